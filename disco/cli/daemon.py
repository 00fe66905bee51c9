"""Running the master and node daemons: pid files, log files, start/stop/status (layer: top).

`disco start` launches `python -m disco master` in its own session with stdout and stderr
appended to `DISCO_LOG_DIR/master.log`, records its pid in `DISCO_PID_DIR/master.pid`, and
waits until the master answers `GET /disco/version`. `disco stop` sends SIGTERM and waits.
The `master` and `node` subcommands (run in the daemon processes) use :func:`configure_daemon`
so that daemons log to files, never to a terminal.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Iterable

from disco.sysutil import pid_alive
from disco.error import DiscoError
from disco import auth, tls

log = logging.getLogger(__name__)

#: Format of every daemon log line.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class DaemonError(DiscoError):
    """Starting or stopping a daemon failed; the message is meant for the user."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        #: extra context (e.g. the tail of the master log) printed after the message
        self.details = details


def pid_path(settings, name: str) -> str:
    """`DISCO_PID_DIR/<name>.pid` (`master`, or `node-<host>`)."""
    return os.path.join(settings.get_path("DISCO_PID_DIR"), f"{name}.pid")


def log_path(settings, name: str) -> str:
    """`DISCO_LOG_DIR/<name>.log`."""
    return os.path.join(settings.get_path("DISCO_LOG_DIR"), f"{name}.log")


def write_pid(path: str, pid: int | None = None) -> None:
    """Write `pid` (default: this process) atomically to `path`."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{pid or os.getpid()}\n")
    os.replace(tmp, path)


def read_pid(path: str) -> int | None:
    """The pid recorded in `path`, or None if the file is missing or garbled."""
    try:
        with open(path, encoding="ascii") as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def remove_pid(path: str, pid: int | None = None) -> None:
    """Remove the pid file, but only if it still names `pid` (default: this process)."""
    if read_pid(path) == (pid or os.getpid()):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def is_disco_process(pid: int) -> bool:
    """True if `pid` runs a `disco` command (guards against a stale pid file reused by
    an unrelated process). Where /proc is missing we trust the pid file."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"disco" in f.read()
    except FileNotFoundError:
        return not os.path.isdir("/proc") and pid_alive(pid)
    except OSError:
        return False


def running_pid(path: str) -> int | None:
    """The pid from `path` if that process is alive and is a disco process."""
    pid = read_pid(path)
    if pid is not None and pid_alive(pid) and is_disco_process(pid):
        return pid
    return None


def wait_until(predicate: Callable[[], bool], timeout: float, period: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(period)


def tail(path: str, lines: int = 20) -> str:
    """The last `lines` lines of a text file ('' if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def configure_daemon_logging(settings, name: str) -> str:
    """Send the root logger to `DISCO_LOG_DIR/<name>.log`; return the path.

    DISCO_DEBUG=log|trace lowers the level to DEBUG (Disco's meaning of the setting)."""
    path = log_path(settings, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    debug = settings.get_str("DISCO_DEBUG").lower() in ("log", "trace", "1", "2")
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return path


def master_answers(url: str, timeout: float = 2.0) -> bool:
    """True if a Disco master answers `GET <url>/disco/version`."""
    target = f"{url.rstrip('/')}/disco/version"
    request = urllib.request.Request(target, headers=auth.client_headers(target))
    context = tls.client_context() if target.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:
            return reply.status == 200
    except urllib.error.HTTPError as exc:
        return exc.code == 401  # a master, only one that wants another secret
    except (OSError, ValueError):
        return False


@dataclass
class Master:
    """The local master daemon as seen by `disco start|stop|status`."""

    settings: object

    @property
    def host(self) -> str:
        return self.settings.get_str("DISCO_MASTER_HOST")

    @property
    def port(self) -> int:
        return self.settings.get_int("DISCO_PORT")

    @property
    def url(self) -> str:
        return self.settings.get_str("DISCO_MASTER")

    @property
    def pid_file(self) -> str:
        return pid_path(self.settings, "master")

    @property
    def log_file(self) -> str:
        return log_path(self.settings, "master")

    def __str__(self) -> str:
        # Disco's clx.server.Server prints "<Class> <host>:<port> <state>"
        return f"Master {self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return running_pid(self.pid_file)

    def status(self) -> str:
        return "running" if self.pid else "stopped"

    def start(self, timeout: float = 60.0) -> Iterable[str]:
        """Launch the master daemon and wait until it answers HTTP."""
        if self.pid:
            raise DaemonError(f"{self} already started (pid {self.pid}, {self.url})")
        if master_answers(self.url, timeout=1.0):
            raise DaemonError(f"another master already answers at {self.url}; "
                              f"stop it or choose another DISCO_PORT")
        self.settings.ensuredirs()
        process = self._spawn()
        write_pid(self.pid_file, process.pid)
        self._wait_ready(process, timeout)
        yield f"{self} started"
        yield f"  url {self.url}  pid {process.pid}  log {self.log_file}"

    def _spawn(self) -> subprocess.Popen:
        env = dict(os.environ)
        env.update(self.settings.env())
        env["DISCO_MASTER_PID"] = self.pid_file
        with open(self.log_file, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "disco", "master"],
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True)

    def _wait_ready(self, process: subprocess.Popen, timeout: float) -> None:
        def ready() -> bool:
            return process.poll() is not None or master_answers(self.url, timeout=1.0)
        if not wait_until(ready, timeout, period=0.1):
            raise DaemonError(f"{self} did not answer at {self.url} within {timeout:g} s "
                              f"(still starting? see {self.log_file})", tail(self.log_file))
        if process.poll() is not None:
            remove_pid(self.pid_file, process.pid)
            raise DaemonError(f"{self} exited with code {process.returncode} while starting; "
                              f"last lines of {self.log_file}:", tail(self.log_file))

    def stop(self, timeout: float = 30.0) -> Iterable[str]:
        """SIGTERM the master, wait for it (SIGKILL after `timeout`), then stop any node
        process it left behind on this machine."""
        pid = self.pid
        if pid:
            terminate(pid, timeout)
            remove_pid(self.pid_file, pid)
        for node_pid in self.leftover_nodes():
            terminate(node_pid, timeout=10.0)
        yield f"{self} {self.status()}"

    def leftover_nodes(self) -> list[int]:
        """Pids of live node processes recorded in DISCO_PID_DIR/node-*.pid."""
        directory = self.settings.get_path("DISCO_PID_DIR")
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return []
        pids = []
        for name in names:
            if name.startswith("node-") and name.endswith(".pid"):
                pid = running_pid(os.path.join(directory, name))
                if pid:
                    pids.append(pid)
        return pids


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM `pid`, wait up to `timeout` s, then SIGKILL it."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if wait_until(lambda: not pid_alive(pid), timeout, period=0.05):
        return
    log.warning("pid %s ignored SIGTERM for %g s; killing it", pid, timeout)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_until(lambda: not pid_alive(pid), 5.0)
