#!/usr/bin/env bash
# Set up and run the test suite on a fresh machine (Python and pip present).
# Browser tests drive Debian's Chromium; it is installed here when we are root with apt.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Chromium for the browser tests..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
exec python3 -m pytest -n 2 "$@"
