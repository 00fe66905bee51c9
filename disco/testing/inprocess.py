"""The in-process test tier: the master and its nodes on one event loop in this process.

:class:`InProcessCluster` is a :class:`~disco.testing.cluster.LocalCluster` (same settings,
ports, roots, clients and waits) whose master application and :class:`~disco.node.app.Node`
objects run on one asyncio loop in a background thread instead of as processes: no interpreter
starts per master or node, so a cluster is up in a fraction of a second. Nodes bind their own
127.0.0.x address, as node processes do; task workers stay real subprocesses (the node's fork
server). It is for tests that do not kill processes; kill and end-to-end tests keep
LocalCluster.

:meth:`InProcessCluster.check_invariants` looks inside the live master and nodes (as dask's
``gen_cluster`` validates its state after each test): no task both running and done, the
scheduler's slot counts equal the running attempts and stay within each node's workers, and
every worker process a node runs belongs to a task the node knows.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import Future
from typing import Any, Awaitable, Callable

from disco.testing.cluster import ClusterError, LocalCluster, ProcessId, descendants

log = logging.getLogger(__name__)


class InProcessCluster(LocalCluster):
    """A LocalCluster whose master and nodes run on one event loop of this process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._app: Any = None
        self._runner: Any = None
        self._nodes: dict[str, Any] = {}
        #: pids of every worker the nodes started (see _watch_spawns)
        self._workers: set[ProcessId] = set()

    # -- the loop --------------------------------------------------------------------------
    def call(self, make: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
        """Run the coroutine ``make()`` on the cluster's loop; its result."""
        if self._loop is None:
            raise ClusterError("in-process cluster not started")
        future: Future = asyncio.run_coroutine_threadsafe(_call(make), self._loop)
        return future.result(timeout)

    def _start_loop(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"inprocess-cluster-{self.port}")
        self._thread.start()

    # -- lifecycle (LocalCluster's start() calls _spawn_master, then saves the config) -------
    def _spawn_master(self) -> None:
        self._start_loop()
        self.call(self._serve_master)

    async def _serve_master(self) -> None:
        from aiohttp import web

        from disco import serverlimits, tls
        from disco.master.app import make_app
        settings = self.settings
        self._app = make_app(settings, start_nodes=False)
        self._runner = serverlimits.runner(self._app, settings, "master", handle_signals=False,
                                           access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, settings.get_str("DISCO_MASTER_HOST"),
                          settings.get_int("DISCO_PORT"), reuse_address=True,
                          ssl_context=tls.server_context(settings)).start()

    def save_config(self, table: list[list[str]]) -> None:
        super().save_config(table)
        self.call(lambda: self._sync_nodes([host for host, _workers in table]))

    async def _sync_nodes(self, hosts: list[str]) -> None:
        from disco.node.app import Node
        for host in [h for h in self._nodes if h not in hosts]:
            await self._nodes.pop(host).stop()
        for host in hosts:
            if host not in self._nodes:
                node = Node(self._node_settings(host), host, self.master_url)
                self._watch_spawns(node)
                await node.start()
                self._nodes[host] = node

    def _watch_spawns(self, node: Any) -> None:
        """Remember every worker the node starts, forked or exec'd: an exec'd worker (another
        DISCO_WORKER_USER, a non-Python worker, a fork server that failed) is a child of this
        process in its own session, below no fork server, so the tree walk at stop() misses
        it; its pid, and the processes below it, are checked for leaks as well."""
        spawn = node.launcher.spawn

        async def remembering_spawn(argv: list[str], cwd: str, env: dict[str, str]) -> Any:
            process = await spawn(argv, cwd, env)
            worker = ProcessId.of(process.pid)
            if worker is not None:  # None: it has already ended
                self.seen.add(worker)
                self._workers.add(worker)
            return process
        node.launcher.spawn = remembering_spawn

    def _node_settings(self, host: str) -> Any:
        """The node's settings, as the master gives a node process (its own DDFS_DATA)."""
        from disco.settings import DiscoSettings
        env = dict(self.env)
        ddfs_data = self._app["master"].cluster.ddfs_data_for(host)
        if ddfs_data:
            env["DDFS_DATA"] = ddfs_data
        return DiscoSettings(**env)

    def restart_master(self, *args: Any, **kwargs: Any) -> None:
        raise ClusterError("an in-process cluster cannot restart its master: use LocalCluster")

    def kill_node(self, *args: Any, **kwargs: Any) -> int:
        raise ClusterError("an in-process cluster cannot kill a node: use LocalCluster")

    def node_pid(self, host: str) -> int | None:
        return os.getpid() if host in self._nodes else None

    def remember_tree(self) -> None:
        """Record the processes this cluster's nodes started: their fork servers, the workers
        they forked or exec'd, and everything below them (another in-process cluster of this
        process has its own)."""
        for pid in descendants(self._fork_servers() + self._live_workers()):
            self.remember(pid)

    def _live_workers(self) -> list[int]:
        self._workers = {worker for worker in self._workers if worker.alive()}
        return [worker.pid for worker in self._workers]

    def _fork_servers(self) -> list[int]:
        pids = []
        for node in self._nodes.values():
            process = getattr(getattr(node.launcher, "_client", None), "_process", None)
            if process is not None and process.returncode is None:
                pids.append(process.pid)
        return pids

    def stop(self, timeout: float = 10.0, check_leaks: bool = True) -> None:
        """Stop nodes, then the master, then the loop; then check that no worker survives."""
        if self._loop is None:
            return
        self.remember_tree()
        try:
            self.call(self._shutdown, timeout=timeout + 30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout)
            self._loop.close()
            self._loop = None
        self._check_no_survivors(timeout, check_leaks)

    async def _shutdown(self) -> None:
        for host in list(self._nodes):
            await self._nodes.pop(host).stop()
        if self._runner is not None:
            await self._runner.cleanup()

    def _check_no_survivors(self, timeout: float, check_leaks: bool) -> None:
        from disco.testing.cluster import poll_for
        try:
            poll_for(lambda: not self.alive_processes(), timeout, period=0.05)
        except TimeoutError:
            leaked = self.alive_processes()
            for process_id in leaked:
                try:
                    os.kill(process_id.pid, 9)
                except ProcessLookupError:
                    pass
            if check_leaks:
                raise ClusterError("processes outlived the cluster (killed now):\n"
                                   + "\n".join(p.describe() for p in leaked)) from None

    # -- invariants ------------------------------------------------------------------------
    def check_invariants(self, settle: float = 5.0) -> None:
        """Raise ClusterError listing every broken invariant of the live master and nodes.

        A report may be on its way between a node and the master, so the state gets ``settle``
        seconds to become consistent before a problem counts."""
        from disco.testing.cluster import poll_for
        problems: list[str] = []

        def consistent() -> bool:
            problems[:] = self.call(self._invariants)
            return not problems
        try:
            poll_for(consistent, settle, period=0.05)
        except TimeoutError:
            raise ClusterError("cluster invariants broken:\n" + "\n".join(problems)) from None

    async def _invariants(self) -> list[str]:
        master = self._app["master"]
        problems: list[str] = []
        running: dict[str, int] = {}
        for entry in master.jobs.values():
            coordinator = entry.coordinator
            if coordinator is None:
                continue
            for task in coordinator.tasks.values():
                hosts = [host for host, _start in task.live.values()]
                if task.status == "done" and hosts:
                    problems.append(f"{entry.name}: task {task.id} is done and still running "
                                    f"on {sorted(hosts)}")
                for host in hosts:
                    running[host] = running.get(host, 0) + 1
        busy = {host: n for host, n in master.scheduler.busy.items() if n}
        if busy != running:
            problems.append(f"scheduler slots {busy} differ from running attempts {running}")
        for host, count in running.items():
            node = master.cluster.node(host)
            if node is not None and count > node.max_workers:
                problems.append(f"{host} runs {count} tasks with {node.max_workers} workers")
        for host, node in self._nodes.items():
            if len(node.runners) > max(node.max_workers, 1):
                problems.append(f"node {host} runs {len(node.runners)} workers, "
                                f"max_workers {node.max_workers}")
            for job, task, attempt in node.runners:
                entry = master.jobs.get(job)
                if entry is None or entry.status != "active":
                    problems.append(f"node {host}: orphan worker of {job} task {task} attempt "
                                    f"{attempt} (the job is {entry.status if entry else 'gone'})")
        return problems


async def _call(make: Callable[[], Awaitable[Any]]) -> Any:
    return await make()
