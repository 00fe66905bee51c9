#!/usr/bin/env bash
# Set up and run the test suite on a fresh machine (Python and pip present).
# Browser tests drive Debian's Chromium; it is installed here when we are root with apt.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
# Debian packages: Chromium for the browser tests; gcc and libJudy for Disco's own
# test_external (it builds a C worker with Disco's ext/disco.c).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
[ -e /usr/include/Judy.h ] || missing+=(libjudy-dev)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]} for the tests..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# loadgroup: the tests that run Disco's own suite share one cluster on Disco's default
# ports, so they stay together on one worker (tests/compat).
exec python3 -m pytest -n 2 --dist loadgroup "$@"
