#!/usr/bin/env bash
# Set up and run the test suite on a fresh machine (Python and pip present).
# Browser tests drive Debian's Chromium; the real-hosts tests (tests/hosts: network
# namespaces, nodes started over ssh) need iproute2 and Debian's openssh-server. Both are
# installed here when we are root with apt. After the suite, the chaos suite's short version
# runs (docs/hosts.md; DISCO_CHAOS_ROUNDS / DISCO_CHAOS_SEED / DISCO_CHAOS_STOP tune it).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Chromium for the browser tests..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
    && { [ ! -x /usr/sbin/sshd ] || ! command -v ip >/dev/null 2>&1; }; then
  echo "Installing openssh-server and iproute2 for the real-hosts tests..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client iproute2 >/dev/null
fi
if [ "$#" -gt 0 ]; then  # a chosen part of the suite: no chaos run after it
  exec python3 -m pytest -n 2 "$@"
fi
python3 -m pytest -n 2
DISCO_CHAOS_STOP="${DISCO_CHAOS_STOP:-5}" exec python3 -m pytest -n 0 -m chaos tests/hosts
