"""The node process against a tiny test double of the master's websocket endpoint."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os

import aiohttp
import pytest
from aiohttp import web

from disco.node.app import Node, is_co_located
from disco.node.link import ws_url
from disco.settings import DiscoSettings
from disco.testing import free_port

from nodetest_helpers import WORKER, build_jobpack

pytestmark = pytest.mark.timeout(60)


class FakeMaster:
    """Test double of the master's /internal/node/ws: records messages, lets the test talk."""

    def __init__(self, batch: bool = False) -> None:
        self.batch = batch  # the welcome offers batch frames
        self.frames: list[dict] = []   # as they arrived (batches not taken apart)
        self.received: list[dict] = []
        self.connections = 0
        self.ws: web.WebSocketResponse | None = None
        self.packs: dict[str, bytes] = {}
        self.url = ""
        self.changed = asyncio.Event()

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/internal/node/ws", self._ws)
        app.router.add_get("/disco/ctrl/parameters", self._jobpack)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return runner

    async def _jobpack(self, request: web.Request) -> web.Response:
        return web.Response(body=self.packs[request.query["name"]])

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.ws = ws
        async for message in ws:
            decoded = json.loads(message.data)
            self.frames.append(decoded)
            self.received.extend(decoded["messages"] if decoded["op"] == "batch" else [decoded])
            if decoded["op"] == "hello":
                welcome = {"op": "welcome", "max_workers": 2}
                if self.batch:
                    welcome["batch"] = True
                await ws.send_json(welcome)
            self.changed.set()
        return ws

    async def wait_for(self, predicate, timeout: float = 15) -> list[dict]:
        async def poll():
            while True:
                found = [m for m in self.received if predicate(m)]
                if found:
                    return found
                self.changed.clear()
                await self.changed.wait()
        return await asyncio.wait_for(poll(), timeout)


def settings_for(tmp_path, **extra) -> DiscoSettings:
    values = dict(DISCO_DATA=str(tmp_path / "data"), DDFS_DATA=str(tmp_path / "ddfs"),
                  DISCO_PORT=0, DDFS_PUT_PORT=0, DISCO_NODE_HEARTBEAT=0.2,
                  DISCO_NODE_TIMEOUT=5, DISCO_WORKER_START_TIMEOUT=5)
    values.update(extra)
    return DiscoSettings(**values)


def run_task_message(master: FakeMaster, job: str, scenario: str) -> dict:
    master.packs[job] = build_jobpack(scenario)
    return {"op": "run_task", "job": job, "task": 1, "attempt": 0, "stage": "map",
            "grouping": "split", "group": [0, ""], "worker": WORKER,
            "jobpack": f"{master.url}/disco/ctrl/parameters?name={job}",
            "inputs": [[0, "ok", 0, [[0, "raw://x"]]]], "inputs_done": True}


@contextlib.asynccontextmanager
async def linked_node(master: FakeMaster, settings: DiscoSettings, host: str):
    """The fake master's server and a started Node linked to it; both stopped on the way out."""
    runner = await master.start()
    node = Node(settings, host, master.url)
    await node.start()
    try:
        yield node
    finally:
        await node.stop()
        await runner.cleanup()


def test_hello_welcome_task_status_and_reconnect(tmp_path):
    async def go():
        master = FakeMaster()
        async with linked_node(master, settings_for(tmp_path), "127.0.0.1") as node:
            hello = (await master.wait_for(lambda m: m["op"] == "hello"))[0]
            assert hello["host"] == "127.0.0.1" and hello["pid"] == os.getpid()
            assert hello["disk_free"] > 0
            await master.ws.send_json(run_task_message(master, "job@1", "clean"))
            done = (await master.wait_for(lambda m: m["op"] == "task_done"))[0]
            assert done["job"] == "job@1" and done["task"] == 1
            assert done["results"][0][0].startswith("dir://127.0.0.1/disco/127.0.0.1/")
            events = [m["message"] for m in master.received if m["op"] == "event"]
            assert "MSG: [map:1] hello from map" in events
            status = (await master.wait_for(lambda m: m["op"] == "status"))[0]
            assert "running" in status and "disk_used" in status
            assert node.max_workers == 2
            # a long task is killed when the link drops, and the node reconnects
            await master.ws.send_json(run_task_message(master, "job@2", "sleeper"))
            await master.wait_for(lambda m: m["op"] == "status" and m["running"])
            await master.ws.close()
            await asyncio.wait_for(_until(lambda: master.connections == 2), 10)
            await asyncio.wait_for(_until(lambda: not node.runners), 10)
            hellos = await master.wait_for(lambda m: m["op"] == "hello")
            assert len(hellos) == 2
            # the killed task is not reported: the master reschedules it on its own
            assert not [m for m in master.received
                        if m["op"] in ("task_done", "task_failed") and m["job"] == "job@2"]
    asyncio.run(go())


def test_events_travel_with_the_task_report_in_one_batch(tmp_path):
    async def go():
        master = FakeMaster(batch=True)
        async with linked_node(master, settings_for(tmp_path), "127.0.0.1"):
            await master.wait_for(lambda m: m["op"] == "hello")
            await master.ws.send_json(run_task_message(master, "job@b", "clean"))
            await master.wait_for(lambda m: m["op"] == "task_done")
            frame = next(f for f in master.frames if f["op"] == "batch" and any(
                m["op"] == "task_done" for m in f["messages"]))
            ops = [m["op"] for m in frame["messages"]]
            # the task's events (those of the last EVENT_DELAY at least), then its report
            assert ops[-1] == "task_done" and set(ops[:-1]) == {"event"}
            assert frame["messages"][-2]["message"].startswith("DONE: [map:1] Task finished")
            events = [m["message"] for m in master.received if m["op"] == "event"]
            assert events.index("MSG: [map:1] hello from map") < len(events) - 1
    asyncio.run(go())


def test_events_alone_are_sent_after_a_short_wait(tmp_path):
    async def go():
        master = FakeMaster(batch=True)
        async with linked_node(master, settings_for(tmp_path), "127.0.0.1") as node:
            await master.wait_for(lambda m: m["op"] == "hello")
            await node.link.connected.wait()
            node.send({"op": "event", "job": "j", "message": "first"})
            node.send({"op": "event", "job": "j", "message": "second"})
            await master.wait_for(lambda m: m["op"] == "event" and m["message"] == "second")
            assert [m["message"] for m in master.received if m["op"] == "event"] == [
                "first", "second"]
    asyncio.run(go())


def test_kill_job_and_purge(tmp_path):
    async def go():
        master = FakeMaster()
        async with linked_node(master, settings_for(tmp_path), "127.0.0.1") as node:
            await master.wait_for(lambda m: m["op"] == "hello")
            await master.ws.send_json(run_task_message(master, "job@3", "sleeper"))
            await master.wait_for(lambda m: m["op"] == "status" and m["running"])
            home = node.jobhomes.path("job@3")
            assert os.path.isdir(home)
            await master.ws.send_json({"op": "kill_job", "job": "job@3"})
            await asyncio.wait_for(_until(lambda: not node.runners), 10)
            await master.ws.send_json({"op": "purge_job", "job": "job@3"})
            await asyncio.wait_for(_until(lambda: not os.path.exists(home)), 10)
    asyncio.run(go())


def test_remote_node_serves_disco_files(tmp_path):
    port = free_port(["127.0.0.2"])

    async def go():
        master = FakeMaster()
        runner = await master.start()
        node = Node(settings_for(tmp_path, DISCO_PORT=port), "127.0.0.2", master.url)
        assert not node.co_located
        path = tmp_path / "data" / "127.0.0.2" / "ab" / "job" / "out"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"0123456789")
        await node.start()
        try:
            assert not node.co_located
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.2:{port}/disco/127.0.0.2/ab/job/out"
                async with http.get(url, headers={"Range": "bytes=2-4"}) as r:
                    assert r.status == 206 and await r.read() == b"234"
        finally:
            await node.stop()
            await runner.cleanup()
    asyncio.run(go())


def test_co_location_and_ws_url():
    async def go():
        assert await is_co_located("localhost", "http://127.0.0.1:8989")
        assert await is_co_located("127.0.0.1", "http://localhost:8989")
        assert not await is_co_located("127.0.0.2", "http://127.0.0.1:8989")
    asyncio.run(go())
    assert ws_url("http://m:8989") == "ws://m:8989/internal/node/ws"
    assert ws_url("http://m:8989/") == "ws://m:8989/internal/node/ws"


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.05)


def test_done_reports_are_kept_until_stored_and_sent_again_in_the_hello(tmp_path):
    """A master killed before storing a task_done gets it again from the node's hello."""
    async def go():
        master = FakeMaster()
        async with linked_node(master, settings_for(tmp_path), "127.0.0.1") as node:
            await master.wait_for(lambda m: m["op"] == "hello")
            await master.ws.send_json(run_task_message(master, "job@1", "clean"))
            done = (await master.wait_for(lambda m: m["op"] == "task_done"))[0]
            await master.ws.close()                       # the master "dies" unacknowledged
            await asyncio.wait_for(_until(lambda: master.connections == 2), 10)
            hello = (await master.wait_for(lambda m: m["op"] == "hello" and m.get("reports")))[0]
            assert hello["reports"] == [done]
            await master.ws.send_json({"op": "stored", "tasks": [["job@1", 1, 0]]})
            await asyncio.wait_for(_until(lambda: not node.unacked), 10)
            await master.ws.close()
            await asyncio.wait_for(_until(lambda: master.connections == 3), 10)
            hellos = await master.wait_for(lambda m: m["op"] == "hello")
            assert len(hellos) == 3 and "reports" not in hellos[-1]
    asyncio.run(go())
