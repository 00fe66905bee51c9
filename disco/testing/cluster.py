"""`LocalCluster`: a real Disco cluster on loopback addresses, for tests (layer: top).

It runs `python -m disco master` as a child process with its settings in the environment
(`DISCO_ROOT` = a private directory, free ports checked on every host address, retry and
timeout settings shrunk), saves the config table so that the master starts one node
process per host (`127.0.0.2`, `127.0.0.3`, ... are all loopback on Linux), and waits until
every node is connected. `stop()` sends SIGTERM, waits, SIGKILLs what is left and checks
that no process of the cluster (master, nodes, workers) outlived it.

Everything has a deadline; waiting is `poll_for`, never a bare sleep (dask's test style).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import quote
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from disco import auth, tls
from disco.cli.daemon import tail
from disco.error import DiscoError

log = logging.getLogger(__name__)

#: Hosts of the default multi-node cluster: distinct loopback addresses, one node each.
DEFAULT_HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")

#: Settings that make a test cluster react in fractions of a second instead of minutes.
FAST_SETTINGS: dict[str, Any] = {
    "DISCO_RETRY_SLEEP_UNIT": 0.1,
    "DISCO_RETRY_SLEEP_MAX": 0.5,
    "DISCO_RETRY_SLEEP_RANDOM": 0,
    "DISCO_NODE_RESTART_DELAY": 0.5,
    "DISCO_NODE_HEARTBEAT": 0.5,
    "DISCO_NODE_TIMEOUT": 5,
    "DISCO_EVENTS_FLUSH_INTERVAL": 0.2,
    "DISCO_WORKER_START_TIMEOUT": 20,
    "DISCO_WORKER_MESSAGE_TIMEOUT": 20,
    "DISCO_SCHEDULER_SEED": 1,
    "DDFS_GC_INITIAL_WAIT": 60,
    "DISCO_DEBUG": "log",
}


class ClusterError(DiscoError, RuntimeError):
    """The cluster did not start or stop as expected (the message includes log tails)."""


def poll_for(predicate: Callable[[], Any], timeout: float, period: float = 0.05,
             message: str | Callable[[], str] = "") -> Any:
    """Call `predicate` until it returns something truthy; return that value.

    Raises TimeoutError after `timeout` seconds (with `message`, or its result if callable).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise TimeoutError(text or f"condition not met within {timeout:g} s")
        time.sleep(period)


def port_is_free(host: str, port: int) -> bool:
    """True if `port` can be bound on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(hosts: Iterable[str] = ("127.0.0.1",), avoid: Iterable[int] = ()) -> int:
    """A port the OS considers free that is also free on every address in `hosts`."""
    hosts, avoid = list(hosts), set(avoid)
    for _attempt in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in avoid and all(port_is_free(h, port) for h in hosts):
            return port
    raise ClusterError(f"no port free on all of {hosts}")


def resolve_ipv4(host: str) -> str:
    try:
        return socket.gethostbyname(host)
    except OSError:
        return host


def http_get(url: str, timeout: float = 5.0, headers: Mapping[str, str] | None = None,
             cafile: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    with urllib.request.urlopen(request, timeout=timeout,
                                context=_tls_context(url, cafile)) as reply:
        return reply.read()


def http_post(url: str, body: bytes, timeout: float = 10.0,
              headers: Mapping[str, str] | None = None, cafile: str | None = None) -> bytes:
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers or {}))
    with urllib.request.urlopen(request, timeout=timeout,
                                context=_tls_context(url, cafile)) as reply:
        return reply.read()


def _tls_context(url: str, cafile: str | None):
    return tls.client_context({"DISCO_TLS_CA": cafile}) if url.startswith("https:") else None


@dataclass(frozen=True)
class ProcessId:
    """A pid plus its start time, so a recycled pid is not mistaken for our process."""

    pid: int
    start: str

    @classmethod
    def of(cls, pid: int) -> "ProcessId | None":
        stat = read_stat(pid)
        return cls(pid, stat[19]) if stat else None

    def alive(self) -> bool:
        stat = read_stat(self.pid)
        return bool(stat) and stat[19] == self.start and stat[0] != "Z"

    def describe(self) -> str:
        try:
            with open(f"/proc/{self.pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            cmdline = "?"
        return f"pid {self.pid}: {cmdline}"


def read_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(root_pids: Iterable[int]) -> set[int]:
    """Every live process below `root_pids` (by parent pid), roots included."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat:
                children.setdefault(int(stat[1]), []).append(int(entry))
    found, todo = set(), list(root_pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


class LocalCluster:
    """A master process plus one node process per host, all on this machine.

    `hosts` are node host names/addresses (each needs its own address: two nodes cannot
    bind the same DISCO_PORT); `workers` is max_workers per node; `settings` override the
    defaults (strings or values; they reach the master and nodes through the environment).
    `master_host` defaults to 127.0.0.1, or to the single host when that is `localhost`
    (the embedded default shape: master plus a co-located node).
    """

    def __init__(self, root: str | os.PathLike, hosts: Sequence[str] = DEFAULT_HOSTS,
                 workers: int = 2, settings: Mapping[str, Any] | None = None,
                 master_host: str | None = None) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.hosts = tuple(hosts)
        self.workers = workers
        self.master_host = master_host or ("localhost" if self.hosts == ("localhost",)
                                           else "127.0.0.1")
        self.extra_settings = dict(settings or {})
        self.process: subprocess.Popen | None = None
        #: every pid that belonged to the cluster while it ran (for the leak check)
        self.seen: set[ProcessId] = set()
        self.env = self._environment()

    # -- configuration ---------------------------------------------------------------
    def _addresses(self) -> list[str]:
        return sorted({resolve_ipv4(h) for h in (self.master_host, *self.hosts)})

    def _environment(self) -> dict[str, str]:
        """The settings of master and nodes as environment strings."""
        addresses = self._addresses()
        port = free_port(addresses)
        put_port = free_port(addresses, avoid={port})
        os.makedirs(self.root, exist_ok=True)
        settings_file = os.path.join(self.root, "settings.py")
        if not os.path.exists(settings_file):
            with open(settings_file, "w", encoding="utf-8") as f:
                f.write("# test cluster: every setting comes from the environment\n")
        values: dict[str, Any] = {
            "DISCO_HOME": self.root,
            "DISCO_ROOT": self.root,
            "DISCO_SETTINGS_FILE": settings_file,
            "DISCO_MASTER_HOST": self.master_host,
            "DISCO_PORT": port,
            "DDFS_PUT_PORT": put_port,
            "DISCO_MASTER": (f"{'https' if self.extra_settings.get('DISCO_TLS_CERT') else 'http'}"
                             f"://{self.master_host}:{port}"),
            "DISCO_LOG_DIR": os.path.join(self.root, "log"),
            "DISCO_PID_DIR": os.path.join(self.root, "run"),
            "DISCO_MASTER_CONFIG": os.path.join(self.root, "disco.config"),
            "DISCO_TEST_HOST": "127.0.0.1",
            **FAST_SETTINGS,
            **self.extra_settings,
        }
        return {key: str(value) for key, value in values.items() if value is not None}

    @property
    def port(self) -> int:
        return int(self.env["DISCO_PORT"])

    @property
    def put_port(self) -> int:
        return int(self.env["DDFS_PUT_PORT"])

    @property
    def headers(self) -> dict[str, str]:
        """The cluster credential (none without a DISCO_SECRET) for HTTP requests."""
        secret = self.env.get("DISCO_SECRET")
        return auth.with_token({}, auth.client_token(secret) if secret else None)

    @property
    def master_url(self) -> str:
        return self.env["DISCO_MASTER"]

    @property
    def log_dir(self) -> str:
        return self.env["DISCO_LOG_DIR"]

    @property
    def pid_dir(self) -> str:
        return self.env["DISCO_PID_DIR"]

    @property
    def settings(self):
        """A DiscoSettings pointing at this cluster (for `Job(master=...)`, `Disco`)."""
        from disco.settings import DiscoSettings
        return DiscoSettings(**self.env)

    @property
    def disco(self):
        """A `disco.core.Disco` client for this cluster."""
        from disco.core import Disco
        return Disco(master=self.master_url, settings=self.settings)

    def client_env(self) -> dict[str, str]:
        """os.environ without any other Disco settings, plus this cluster's (for `disco`
        command lines and client code that reads settings from the environment)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DISCO_", "DDFS_"))}
        env.update(self.env)
        return env

    def config_table(self) -> list[list[str]]:
        return [[host, str(self.workers)] for host in self.hosts]

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> "LocalCluster":
        """Start the master, save the config table, wait for every node to connect."""
        os.makedirs(self.log_dir, exist_ok=True)
        # Written before the master starts so that it never starts a node for the default
        # table ([["localhost", ncpus]]); the table is saved again over HTTP below.
        with open(self.env["DISCO_MASTER_CONFIG"], "w", encoding="utf-8") as f:
            json.dump({"hosts": self.config_table()}, f)
        self._spawn_master()
        try:
            self.wait_for_master(timeout)
            self.save_config(self.config_table())
            self.wait_for_nodes(self.hosts, timeout)
        except BaseException:
            self.stop(check_leaks=False)
            raise
        self.remember_tree()
        return self

    def _spawn_master(self) -> None:
        with open(os.path.join(self.log_dir, "master.out"), "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "disco", "master"], env=self.client_env(),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.root, start_new_session=True)
        self.remember(self.process.pid)

    def restart_master(self, sig: int = signal.SIGKILL, timeout: float = 30.0) -> None:
        """Stop the master with `sig` (SIGKILL: a crash) and start it again on the same
        root and ports; wait until it answers and every node is connected again."""
        assert self.process is not None, "cluster not started"
        self.remember_tree()
        self.process.send_signal(sig)
        self.process.wait(timeout)
        self._spawn_master()
        self.wait_for_master(timeout)
        self.wait_for_nodes(self.hosts, timeout)
        self.remember_tree()

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def wait_for_master(self, timeout: float = 60.0) -> None:
        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise ClusterError(f"master exited with code {self.process.returncode}\n"
                                   + self.logs())
            try:
                return bool(http_get(f"{self.master_url}/disco/version", timeout=1.0,
                                     headers=self.headers, cafile=self.env.get("DISCO_TLS_CA")))
            except OSError:
                return False
        poll_for(answers, timeout, period=0.05,
                 message=lambda: f"master at {self.master_url} did not answer\n" + self.logs())

    def save_config(self, table: list[list[str]]) -> None:
        """POST /disco/ctrl/save_config_table; the master then starts the nodes."""
        reply = http_post(f"{self.master_url}/disco/ctrl/save_config_table",
                          json.dumps(table).encode(), headers=self.headers,
                          cafile=self.env.get("DISCO_TLS_CA"))
        if json.loads(reply) != "table saved!":
            raise ClusterError(f"save_config_table answered {reply!r}")

    def nodeinfo(self) -> dict[str, dict]:
        return json.loads(http_get(f"{self.master_url}/disco/ctrl/nodeinfo",
                                   headers=self.headers, cafile=self.env.get("DISCO_TLS_CA")))

    def connected_hosts(self) -> set[str]:
        try:
            info = self.nodeinfo()
        except OSError:
            return set()
        return {host for host, node in info.items() if node.get("connected")}

    def wait_for_nodes(self, hosts: Iterable[str] | None = None, timeout: float = 60.0) -> None:
        """Wait until every host in `hosts` (default: all) is connected."""
        wanted = set(self.hosts if hosts is None else hosts)
        poll_for(lambda: wanted <= self.connected_hosts(), timeout, period=0.05,
                 message=lambda: (f"nodes {sorted(wanted - self.connected_hosts())} did not "
                                  f"connect to {self.master_url}\n" + self.logs()))

    def wait_for_disconnect(self, host: str, timeout: float = 30.0) -> None:
        poll_for(lambda: host not in self.connected_hosts(), timeout,
                 message=f"node {host} still connected after {timeout:g} s")

    # -- processes ---------------------------------------------------------------------
    def node_pid(self, host: str) -> int | None:
        try:
            with open(os.path.join(self.pid_dir, f"node-{host}.pid"), encoding="ascii") as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def kill_node(self, host: str, sig: int = signal.SIGKILL) -> int:
        """Send `sig` to the node process of `host` (from DISCO_PID_DIR/node-<host>.pid);
        return its pid. Its workers are remembered for the leak check."""
        pid = self.node_pid(host)
        if pid is None:
            raise ClusterError(f"no pid file for node {host} in {self.pid_dir}")
        self.remember_tree()
        os.kill(pid, sig)
        return pid

    def remember(self, pid: int) -> None:
        process_id = ProcessId.of(pid)
        if process_id:
            self.seen.add(process_id)

    def remember_tree(self) -> None:
        """Record the master, the nodes and everything below them."""
        roots = [self.process.pid] if self.process else []
        roots += [pid for pid in map(self.node_pid, self.hosts) if pid]
        for pid in descendants(roots):
            self.remember(pid)

    def alive_processes(self) -> list[ProcessId]:
        return sorted((p for p in self.seen if p.alive()), key=lambda p: p.pid)

    def stop(self, timeout: float = 10.0, check_leaks: bool = True) -> None:
        """SIGTERM the master -> wait -> SIGKILL; then make sure nothing it ran survives."""
        if self.process is None:
            return
        self.remember_tree()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("master ignored SIGTERM for %g s; killing it", timeout)
                self.process.kill()
                self.process.wait(10)
        # the master stops its nodes, which stop their workers; give them a moment
        try:
            poll_for(lambda: not self.alive_processes(), timeout, period=0.05)
            leaked = []
        except TimeoutError:
            leaked = self.alive_processes()
        for process_id in leaked:
            try:
                os.kill(process_id.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if leaked and check_leaks:
            raise ClusterError("processes outlived the cluster (killed now):\n"
                               + "\n".join(p.describe() for p in leaked) + "\n" + self.logs())

    # -- invariants (after each test; InProcessCluster looks deeper) -----------------------
    def check_invariants(self, settle: float = 5.0) -> None:
        """Raise ClusterError listing every broken invariant the master shows over HTTP: no
        connected node runs a task of a job that is not active (an orphan worker), and the active
        jobs run no more tasks than the cluster has workers. A report may be on its way
        between a node and the master, so the state gets ``settle`` seconds to agree."""
        if self.process is None or self.process.poll() is not None:
            return  # no master (stopped, or killed by the test): nothing to ask
        problems: list[str] = []

        def consistent() -> bool:
            problems[:] = self._http_invariants()
            return not problems
        try:
            poll_for(consistent, settle, period=0.1)
        except TimeoutError:
            raise ClusterError("cluster invariants broken:\n" + "\n".join(problems)) from None

    def _http_invariants(self) -> list[str]:
        try:
            nodes = self.nodeinfo()
            jobs = json.loads(http_get(f"{self.master_url}/disco/ctrl/joblist",
                                       headers=self.headers, cafile=self.env.get("DISCO_TLS_CA")))
        except OSError as exc:
            return [f"the master at {self.master_url} does not answer: {exc}"]
        active = {name for _start, status, name in jobs if status == "active"}
        problems = [f"node {host}: orphan worker of {job} (the job is not active)"
                    for host, node in sorted(nodes.items()) if node.get("connected")
                    for job in node.get("tasks", []) if job not in active]
        if all(node.get("connected") for node in nodes.values()):
            slots = sum(node.get("max_workers", 0) for node in nodes.values())
            running = {job: self._running_tasks(job) for job in sorted(active)}
            if sum(running.values()) > slots:
                problems.append(f"{sum(running.values())} tasks running {running} on "
                                f"{slots} workers")
        return problems

    def _running_tasks(self, job: str) -> int:
        try:
            info = json.loads(http_get(f"{self.master_url}/disco/ctrl/jobinfo?name={quote(job)}",
                                       headers=self.headers, cafile=self.env.get("DISCO_TLS_CA")))
        except OSError:
            return 0  # the job ended and was purged meanwhile
        return sum(row[3] for row in info.get("pipeline", []))

    # -- diagnostics ---------------------------------------------------------------------
    def logs(self, lines: int = 40) -> str:
        """The last `lines` lines of every master and node log."""
        parts = []
        try:
            names = sorted(os.listdir(self.log_dir))
        except OSError:
            names = []
        for name in names:
            text = tail(os.path.join(self.log_dir, name), lines)
            if text:
                parts.append(f"----- {name} (last {lines} lines) -----\n{text}")
        return "\n".join(parts) or f"(no logs in {self.log_dir})"

    def __repr__(self) -> str:
        return f"<LocalCluster {self.master_url} hosts={list(self.hosts)} root={self.root}>"


def run_cli(*args: str, env: Mapping[str, str] | None = None, input: bytes | str | None = None,
            timeout: float = 60.0, cwd: str | None = None) -> subprocess.CompletedProcess:
    """Run `python -m disco ARGS` and capture its output (text), with a deadline."""
    data = input.encode() if isinstance(input, str) else input
    completed = subprocess.run([sys.executable, "-m", "disco", *args], env=dict(env or os.environ),
                               input=data, capture_output=True, timeout=timeout, cwd=cwd)
    return subprocess.CompletedProcess(
        completed.args, completed.returncode,
        completed.stdout.decode("utf-8", "replace"), completed.stderr.decode("utf-8", "replace"))
