"""The master's view of its nodes: registry, blacklists, and the node processes it runs.

Layer 2. `Cluster` is the object handed to ``disco.ddfs_server.master.setup`` (see
docs/architecture.md "Mount points"): ``cluster.nodes()`` lists `Node` records and
``cluster.local_ddfs_data(host)`` gives the DDFS dir of the node co-located with the master.

`NodeProcesses` starts ``python -m disco node --host H --master URL`` for every configured
host: as a child process when H is an address of this machine, else over ``ssh`` as
``ssh [DISCO_SSH_OPTIONS] H env K=V... PYTHON -m disco.node.remote start ...``
(`disco.node.remote`; ``K=V``: the cluster-wide settings, `remote_settings`). A node process
(or ssh session) that exits is restarted after ``DISCO_NODE_RESTART_DELAY`` seconds; removed
hosts and master shutdown stop them (SIGTERM, then SIGKILL; over ssh with
``disco.node.remote stop``). A node that outlived a previous master (it keeps running and
reconnects when the master is killed) is adopted instead of starting a second one: a local
one found by its ``DISCO_PID_DIR/node-<host>.pid`` file, an ssh one by its session's
``DISCO_PID_DIR/ssh-<host>.pid`` (and, on the node's machine, by `disco.node.remote`).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

from disco.addresses import co_located, is_local
from disco import tls
from disco.settings_table import OUR_SETTINGS
from disco.sysutil import node_process_of, pid_alive

log = logging.getLogger(__name__)

#: seconds between SIGTERM and SIGKILL when stopping a node process
STOP_GRACE = 5.0
#: seconds between liveness checks of an adopted node process (not our child)
ADOPTED_POLL = 0.5


@dataclass
class Node:
    """One configured host."""
    host: str
    max_workers: int
    get_url: str
    put_url: str
    ddfs_data: str | None = None
    connected: bool = False
    blacklisted: bool = False
    gc_blacklisted: bool = False
    disk_free: int = 0
    disk_used: int = 0
    last_seen: float = 0.0
    job_ok: int = 0
    data_error: int = 0
    error: int = 0
    running: dict = field(default_factory=dict)   # (job, task) -> attempt
    link: Any = None                               # the master's NodeLink while connected

    def info(self) -> dict:
        """The ``nodeinfo`` record of this host (Disco's shape)."""
        record = {"job_ok": self.job_ok, "data_error": self.data_error, "error": self.error,
                  "max_workers": self.max_workers, "connected": self.connected,
                  "blacklisted": self.blacklisted, "diskfree": self.disk_free,
                  "diskused": self.disk_used}
        jobs = sorted({job for job, _task in self.running})
        if jobs:
            record["tasks"] = jobs
        return record


class Cluster:
    """Registry of configured nodes (the ``cluster`` of the DDFS mount point)."""

    def __init__(self, config: Any) -> None:
        self.master_host = config.disco_master_host
        self.port = config.disco_port
        self.put_port = config.ddfs_put_port
        self.ddfs_root = config.ddfs_data
        self.scheme = tls.scheme(config)
        self._nodes: dict[str, Node] = {}

    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    def node(self, host: str) -> Node | None:
        return self._nodes.get(host)

    def local_ddfs_data(self, host: str) -> str | None:
        node = self._nodes.get(host)
        return node.ddfs_data if node is not None and co_located(host, self.master_host) else None

    def ddfs_data_for(self, host: str) -> str | None:
        """The DDFS dir a locally started node uses (architecture.md); None for ssh nodes."""
        if co_located(host, self.master_host):
            return self.ddfs_root
        return os.path.join(self.ddfs_root, host) if is_local(host) else None

    def apply_table(self, hosts: dict[str, int], blacklist: list[str],
                    gc_blacklist: list[str]) -> tuple[list[str], list[str]]:
        """Make the registry match the config table; returns (added, removed) hosts."""
        removed = [h for h in self._nodes if h not in hosts]
        for host in removed:
            del self._nodes[host]
        added = []
        for host, workers in hosts.items():
            node = self._nodes.get(host)
            if node is None:
                node = Node(host, workers, f"{self.scheme}://{host}:{self.port}",
                            f"{self.scheme}://{host}:{self.put_port}", self.ddfs_data_for(host))
                self._nodes[host] = node
                added.append(host)
            node.max_workers = workers
            node.blacklisted = host in blacklist
            node.gc_blacklisted = host in gc_blacklist
        return added, removed

    def usable_slots(self) -> dict[str, int]:
        """``{host: max_workers}`` of connected, not blacklisted nodes (Disco's eligibility)."""
        return {n.host: n.max_workers for n in self._nodes.values()
                if n.connected and not n.blacklisted and n.max_workers > 0}

    def connected_hosts(self) -> set[str]:
        return {n.host for n in self._nodes.values() if n.connected}


#: settings the master passes to a node it starts over ssh (the rest are the node machine's own)
DISCO_CLUSTER_SETTINGS = ("DISCO_PORT", "DDFS_PUT_PORT", "DISCO_DEBUG", "DISCO_WORKER_MAX_MEM",
                          "DISCO_ULIMIT", "DISCO_GC_AFTER", "DATA_GC_INTERVAL", "DISCO_PROFILE",
                          "DDFS_TAG_MIN_REPLICAS", "DDFS_TAG_REPLICAS", "DDFS_BLOB_REPLICAS",
                          "DDFS_PUT_MAX", "DDFS_GET_MAX", "DDFS_SPACE_AWARE",
                          "DDFS_ABSOLUTE_SPACE", "DDFS_PARANOID_DELETE", "DDFS_GC_INITIAL_WAIT",
                          "DDFS_GC_BALANCE_THRESHOLD")
#: never on an ssh command line (visible in `ps`): these belong in the node's settings file
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY")
#: seconds an ssh ``stop`` may take beyond the node's own stop grace
SSH_TIMEOUT = 10.0
#: ssh's exit status when ssh itself (not the remote command) failed
SSH_FAILED = 255
#: a log line of the remote end (``2026-01-31 12:00:00,000 INFO ...``), not ssh's own
_DATED = re.compile(r"\d{4}-\d\d-\d\d ")


def remote_settings(settings: Any) -> list[str]:
    """``K=V`` of the cluster-wide settings (ports, intervals, limits) for an ssh node."""
    names = [*DISCO_CLUSTER_SETTINGS, *(setting.name for setting in OUR_SETTINGS)]
    pairs = []
    for name in dict.fromkeys(names):
        if any(word in name for word in SECRET_WORDS) or name in ("DISCO_NODE_PYTHON",
                                                                   "DISCO_SSH_OPTIONS"):
            continue
        if name.startswith("DISCO_TLS_"):  # file paths of the node's own machine
            continue
        value = settings.get(name)
        if value is not None and value != "":
            pairs.append(f"{name}={value}")
    return pairs


def ssh_process_of(pid: int, host: str) -> bool:
    """True if `pid` is a live ``ssh ... HOST ...`` client process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return False
    return bool(argv) and os.path.basename(argv[0]) == "ssh" and host in argv and pid_alive(pid)


def _last_line(path: str) -> str:
    """The last line ssh itself wrote to a node's output file ('' if none).

    The file also holds the remote end's log lines (they start with a date): skipped.
    """
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4096))
            lines = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return ""
    return next((line for line in reversed(lines) if line and not _DATED.match(line)), "")


def _write_pid(path: str, pid: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii") as f:
        f.write(f"{pid}\n")


class NodeProcesses:
    """Starts, restarts and stops the node processes of configured hosts."""

    def __init__(self, config: Any, cluster: Cluster, master_url: str, settings: Any) -> None:
        """`config`: the master's typed Config; `settings`: its DiscoSettings, used only to hand
        settings on as strings (a local node's environment, an ssh node's ``K=V``)."""
        self.settings = settings
        self.cluster = cluster
        self.master_url = master_url
        self.restart_delay = config.disco_node_restart_delay
        self.log_dir = config.disco_log_dir
        self.pid_dir = config.disco_pid_dir
        self.node_python = config.disco_node_python or sys.executable
        self.ssh_options = shlex.split(config.disco_ssh_options)
        self._watchers: dict[str, asyncio.Task] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._adopted: dict[str, int] = {}

    def _pid_file(self, host: str) -> str:
        # a local node writes its own pid file; for an ssh host it is the ssh client's
        name = f"node-{host}.pid" if is_local(host) else f"ssh-{host}.pid"
        return os.path.join(self.pid_dir, name)

    def _ours(self, pid: int, host: str) -> bool:
        """True if `pid` is the live node process (or ssh client) of `host`."""
        if is_local(host):
            return node_process_of(pid, host)
        return ssh_process_of(pid, host)

    def running_pid(self, host: str) -> int | None:
        """The pid of the node process (local) or ssh client (remote) for `host` left by an
        earlier master, if any."""
        try:
            with open(self._pid_file(host), encoding="ascii") as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return None
        return pid if pid != os.getpid() and self._ours(pid, host) else None

    def command(self, host: str) -> list[str]:
        if is_local(host):
            return [sys.executable, "-m", "disco", "node", "--host", host,
                    "--master", self.master_url]
        return self.ssh_command(host, "start")

    def ssh_command(self, host: str, action: str) -> list[str]:
        """``ssh HOST env K=V... PYTHON -m disco.node.remote ACTION ...`` (module docstring)."""
        remote = ["env", *remote_settings(self.settings), self.node_python, "-m",
                  "disco.node.remote", action, "--host", host]
        if action == "start":
            remote += ["--master", self.master_url]
        return ["ssh", "-o", "BatchMode=yes", *self.ssh_options, host, shlex.join(remote)]

    def environment(self, host: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.settings.env())
        ddfs_data = self.cluster.ddfs_data_for(host)
        if ddfs_data:
            env["DDFS_DATA"] = ddfs_data
        return env

    def sync(self, hosts: list[str]) -> None:
        """Run a node process for exactly these hosts."""
        for host in [h for h in self._watchers if h not in hosts]:
            self._watchers.pop(host).cancel()
        for host in hosts:
            if host not in self._watchers:
                self._watchers[host] = asyncio.create_task(self._watch(host),
                                                           name=f"node-process-{host}")

    async def _watch(self, host: str) -> None:
        try:
            while True:
                code = await self._run_once(host)
                log.warning("node process for %s exited with %s; restarting in %ss", host, code,
                            self.restart_delay)
                await asyncio.sleep(self.restart_delay)
        except asyncio.CancelledError:
            await self._stop(host)
            raise

    async def _run_once(self, host: str) -> int | None:
        pid = self.running_pid(host)  # a small /proc and pid-file read: not worth a thread
        if pid is not None:
            return await self._watch_adopted(host, pid)
        os.makedirs(self.log_dir, exist_ok=True)
        out_path = os.path.join(self.log_dir, f"node-{host}.out")
        with open(out_path, "ab") as out:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.command(host),
                    env=self.environment(host),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )
            except OSError as exc:
                log.error("cannot start node process for %s: %s", host, exc)
                return None
        self._procs[host] = proc
        if not is_local(host):  # a restarted master adopts this ssh session (running_pid)
            await asyncio.to_thread(_write_pid, self._pid_file(host), proc.pid)
        log.info("started node process for %s (pid %s)", host, proc.pid)
        # on cancellation the process stays registered so that _stop() can terminate it
        code = await proc.wait()
        self._procs.pop(host, None)
        if code == SSH_FAILED and not is_local(host):
            # ssh itself failed (no route, refused, key not accepted): say why, from its stderr
            reason = await asyncio.to_thread(_last_line, out_path)
            log.error("ssh to %s failed: %s (the node runs once ssh -o BatchMode=yes %s works "
                      "for this user; see docs/hosts.md)", host,
                      reason or "the connection was lost or timed out", host)
        return code

    async def _watch_adopted(self, host: str, pid: int) -> None:
        """Watch a node process we did not start until it exits."""
        log.info("adopted the running node process for %s (pid %s)", host, pid)
        self._adopted[host] = pid
        while self._ours(pid, host):
            await asyncio.sleep(ADOPTED_POLL)  # cancelled: stays registered for _stop()
        self._adopted.pop(host, None)

    async def _stop_adopted(self, host: str) -> None:
        pid = self._adopted.pop(host, None)
        if pid is None or not self._ours(pid, host):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + STOP_GRACE
        while self._ours(pid, host) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if self._ours(pid, host):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def _stop_remote(self, host: str) -> None:
        """Stop the node on an ssh host (`disco.node.remote stop`); its ssh session ends."""
        if is_local(host) or (host not in self._procs and host not in self._adopted):
            return
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.ssh_command(host, "stop"), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)
            _out, err = await asyncio.wait_for(proc.communicate(), STOP_GRACE + SSH_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as exc:
            log.warning("could not stop the node on %s over ssh: %s", host, exc or "timeout")
            return
        if proc.returncode:
            log.warning("stopping the node on %s over ssh failed (%s): %s", host,
                        proc.returncode, err.decode("utf-8", "replace").strip()[-500:])
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._pid_file(host))

    async def _stop(self, host: str) -> None:
        await self._stop_remote(host)
        await self._stop_adopted(host)
        proc = self._procs.pop(host, None)
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def stop_all(self) -> None:
        watchers = list(self._watchers.values())
        self._watchers.clear()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
