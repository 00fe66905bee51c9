"""The remote end of a node started over ssh: ``python -m disco.node.remote start|stop``.

Layer 2 (`disco.node`; stdlib and `disco.settings` only). The master starts a node on a host
that is not this machine as ::

    ssh [DISCO_SSH_OPTIONS] HOST env K=V... PYTHON -m disco.node.remote start \
        --host HOST --master URL

where ``K=V`` are the master's cluster-wide settings (ports, timeouts; never paths, which are
the node machine's own, from its environment or settings file, nor secrets, which must be in
that file). ``start`` adopts the node process already running for HOST on that machine (found
by its ``DISCO_PID_DIR/node-HOST.pid``, as a master restarted after a crash finds it) or starts
one, then waits for it to exit, so that the ssh session lives exactly as long as the node and
the master's watcher restarts it when it dies. ``stop`` sends the node SIGTERM (then SIGKILL
after a grace period); the master runs it over ssh when it removes a host or shuts down.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time

from disco.settings import DiscoSettings
from disco.sysutil import node_process_of

log = logging.getLogger("disco.node.remote")

#: seconds between liveness checks of an adopted node
POLL = 0.5
#: seconds `stop` waits after SIGTERM before SIGKILL
STOP_GRACE = 10.0


def pid_file(settings: DiscoSettings, host: str) -> str:
    return os.path.join(settings.get_path("DISCO_PID_DIR"), f"node-{host}.pid")


def running_node(settings: DiscoSettings, host: str) -> int | None:
    """The pid of the live node process for `host` on this machine, if any."""
    try:
        with open(pid_file(settings, host), encoding="ascii") as f:
            pid = int(f.readline().strip())
    except (OSError, ValueError):
        return None
    return pid if node_process_of(pid, host) else None


def owner_file(settings: DiscoSettings, host: str) -> str:
    return os.path.join(settings.get_path("DISCO_PID_DIR"), f"remote-{host}.pid")


def take_ownership(settings: DiscoSettings, host: str) -> str:
    """Record this session as the one watching `host`'s node (the newest one wins)."""
    path = owner_file(settings, host)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, path)
    return path


def still_owner(path: str) -> bool:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip() or 0) == os.getpid()
    except (OSError, ValueError):
        return False


def start(settings: DiscoSettings, host: str, master: str) -> int:
    """Adopt or start the node for `host`; return when it exits (its exit status).

    A session whose ssh connection died unnoticed (a cut link) is replaced by the master's
    next one: the newer session takes ownership and the older one exits, leaving the node
    running. A hangup never reaches the node: it runs in its own session.
    """
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    owner = take_ownership(settings, host)
    pid = running_node(settings, host)
    if pid is not None:
        log.info("node for %s already runs here (pid %s): adopted", host, pid)
        while node_process_of(pid, host) and still_owner(owner):
            time.sleep(POLL)
        return 0
    log_dir = settings.get_path("DISCO_LOG_DIR")
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, f"node-{host}.out"), "ab") as out:
        child = subprocess.Popen([sys.executable, "-m", "disco", "node", "--host", host,
                                  "--master", master], stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    log.info("started the node for %s (pid %s)", host, child.pid)
    while still_owner(owner):
        try:
            return child.wait(POLL)
        except subprocess.TimeoutExpired:
            continue
    log.info("a newer session watches the node for %s: this one ends", host)
    return 0


def stop(settings: DiscoSettings, host: str, grace: float = STOP_GRACE) -> int:
    """SIGTERM the node for `host`, SIGKILL it after `grace` seconds; 0 when none is left."""
    pid = running_node(settings, host)
    if pid is None:
        return 0
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while node_process_of(pid, host) and time.monotonic() < deadline:
        time.sleep(0.05)
    if node_process_of(pid, host):
        log.warning("node for %s (pid %s) ignored SIGTERM for %ss: SIGKILL", host, pid, grace)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m disco.node.remote",
                                     description="Start or stop this machine's Disco node "
                                                 "(run by the master over ssh).")
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--host", required=True, help="the node's host name in the config table")
    parser.add_argument("--master", help="the master's URL (start)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = DiscoSettings()
    if args.action == "stop":
        return stop(settings, args.host)
    if not args.master:
        parser.error("start needs --master URL")
    return start(settings, args.host, args.master)


if __name__ == "__main__":
    sys.exit(main())
