#!/usr/bin/env bash
# Set up and run the test suite on a fresh machine (Python and pip present).
# Debian packages the tests need are installed when we are root with apt. After the suite,
# the chaos suite's short version runs (docs/hosts.md; DISCO_CHAOS_ROUNDS / DISCO_CHAOS_SEED /
# DISCO_CHAOS_STOP tune it), then the fuzz suite's (DISCO_FUZZ_SECONDS / DISCO_FUZZ_SEED).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
# Debian packages: Chromium for the browser tests; gcc and libJudy for Disco's own
# test_external (it builds a C worker with Disco's ext/disco.c).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
[ -e /usr/include/Judy.h ] || missing+=(libjudy-dev)
# iproute2 and openssh-server for the real-hosts tests (tests/hosts, docs/hosts.md).
[ -x /usr/sbin/sshd ] || missing+=(openssh-server openssh-client)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]} for the tests..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Lint first (pyproject.toml [tool.ruff]): a finding fails CI before any cluster starts.
python3 -m ruff check .
# loadgroup: the tests that run Disco's own suite share one cluster on Disco's default
# ports, so they stay together on one worker (tests/compat).
if [ "$#" -gt 0 ]; then  # a chosen part of the suite: no chaos run after it
  exec python3 -m pytest -n 2 --dist loadgroup "$@"
fi
python3 -m pytest -n 2 --dist loadgroup
DISCO_CHAOS_STOP="${DISCO_CHAOS_STOP:-5}" python3 -m pytest -n 0 -m chaos tests/hosts
# the fuzz suite's short run (about a minute; docs/security-hardening.md "Fuzzing")
DISCO_FUZZ_SECONDS="${DISCO_FUZZ_SECONDS:-2}" DISCO_FUZZ_API_EXAMPLES="${DISCO_FUZZ_API_EXAMPLES:-2}" \
  exec python3 -m pytest -n 0 -m fuzz tests/fuzz
