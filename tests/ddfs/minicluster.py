"""An in-process DDFS cluster for tests: the DDFS master app and node apps on one event loop
in a background thread, nodes on 127.0.0.2.. with shared ports (as on a real cluster)."""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from disco.ddfs_server import master as ddfs_master
from disco.ddfs_server import node as ddfs_node
from disco.testing import free_port


@dataclass
class FakeNode:
    host: str
    get_url: str
    put_url: str
    connected: bool = True
    blacklisted: bool = False
    gc_blacklisted: bool = False
    disk_free: int = 50 * 1024 * 1024
    disk_used: int = 0
    ddfs_data: str | None = None


class FakeCluster:
    def __init__(self) -> None:
        self.list: list[FakeNode] = []

    def nodes(self) -> list[FakeNode]:
        return list(self.list)

    def local_ddfs_data(self, host: str) -> None:
        return None


class MiniCluster:
    def __init__(self, tmp_path: Any, nodes: int = 3, **settings: Any) -> None:
        self.tmp = tmp_path
        self.disco_port = free_port()
        self.put_port = free_port(avoid={self.disco_port})
        self.settings = {"DISCO_PORT": self.disco_port, "DDFS_PUT_PORT": self.put_port,
                         "DDFS_GC_INITIAL_WAIT": 1000, "DDFS_MONITOR_INTERVAL": 0.2,
                         "DDFS_DELAYED_FLUSH": 0.2, **settings}
        self.hosts = [f"127.0.0.{i + 2}" for i in range(nodes)]
        self.cluster = FakeCluster()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners: dict[str, list[web.AppRunner]] = {}
        self.master_url = f"http://127.0.0.1:{self.disco_port}"

    def call(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> "MiniCluster":
        self.thread.start()
        for host in self.hosts:
            self.cluster.list.append(FakeNode(host, f"http://{host}:{self.disco_port}",
                                              f"http://{host}:{self.put_port}"))
            self.call(self._start_node(host))
        self.call(self._start_master())
        return self

    async def _start_node(self, host: str) -> None:
        get_app, put_app = web.Application(), web.Application()
        ddfs_node.setup(get_app, put_app, self.settings, host, str(self.tmp / host))
        runners = []
        for app, port in ((get_app, self.disco_port), (put_app, self.put_port)):
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
            runners.append(runner)
        self.runners[host] = runners

    async def _start_master(self) -> None:
        app = web.Application()
        self.master = ddfs_master.setup(app, self.settings, self.cluster)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.disco_port).start()
        self.runners["master"] = [runner]

    def node(self, host: str) -> FakeNode:
        return next(n for n in self.cluster.list if n.host == host)

    def kill(self, host: str) -> None:
        """Stop a node's servers and mark it disconnected (as a kill -9 would)."""
        for runner in self.runners.pop(host):
            self.call(runner.cleanup())
        self.node(host).connected = False

    def run_gc(self, timeout: float = 60) -> None:
        async def run() -> None:
            self.master.gc.start()
            await self.master.gc.wait()
        self.call(run(), timeout)

    def stop(self) -> None:
        for runners in list(self.runners.values()):
            for runner in runners:
                self.call(runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
