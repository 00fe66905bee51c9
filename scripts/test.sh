#!/usr/bin/env bash
# Set up and run the test suite on a fresh machine (Python and pip present).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec python3 -m pytest -n 2 "$@"
