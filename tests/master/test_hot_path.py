"""The master's per-task fast paths give the same results as the general code they replace."""
from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit

import pytest

from disco.master.events import event_line, format_timestamp
from disco.master.grouping import url_host
from disco.master.link import NodeLink
from disco.protocol import cluster as link


@pytest.mark.parametrize("message", ["hi", "ünï \u2028 \x00 \"q\" \\ /", "x" * 500, "", "\ud800"])
def test_event_line_is_compact_json(message):
    for now in (time.time(), 0.5, 1e9 + 0.999, 1e9 + 1.0):
        expected = json.dumps([format_timestamp(now), "h", message], separators=(",", ":"))
        assert event_line(now, "h", message) == expected + "\n"


def _urlsplit_host(url):
    if "://" not in url or url.startswith(("raw://", "file://", "tag://")):
        return None
    try:
        return urlsplit(url).hostname or None
    except ValueError:
        return None


@pytest.mark.parametrize("url", [
    "disco://localhost/disco/x", "disco://LocalHost:8989/x", "dir://h1/x", "http://h:80", "http://h:",
    "http://h?x", "http://h#f", "https://a.b-c_d/x", "disco://h\t1/x", " disco://h/x", "disco://u@h/x",
    "disco://[::1]:80/x", "disco://[::1/x", "http://", "http:///x", "raw://abc", "tag://x", "file:///x",
    "disco://h:abc/x", "DISCO://h/x", "dir://h1", "disco://h\n1/x", "disco://h:1:2/x"])
def test_url_host_matches_urlsplit(url):
    assert url_host(url) == _urlsplit_host(url)


class FakeSocket:
    """send_str waits (like a full socket buffer) while `blocked` is not set."""

    def __init__(self):
        self.sent: list[str] = []
        self.blocked: asyncio.Event | None = None

    async def send_str(self, text):
        if self.blocked is not None:
            await self.blocked.wait()
        self.sent.append(json.loads(text)["task"])

    async def ping(self):
        self.sent.append("ping")

    async def close(self):
        pass


async def _settle():
    for _ in range(5):
        await asyncio.sleep(0)


def test_node_link_sends_in_order_when_a_write_waits():
    async def scenario():
        ws = FakeSocket()
        peer = NodeLink("h", ws)
        await _settle()
        peer.send(link.kill_task("j", 1, 1))
        await _settle()
        assert ws.sent == [1]
        ws.blocked = asyncio.Event()
        peer.send(link.kill_task("j", 2, 1))  # waits: later messages queue behind it
        peer.send(link.kill_task("j", 3, 1))
        peer.ping(0.0)
        await _settle()
        assert ws.sent == [1]
        ws.blocked.set()
        await _settle()
        assert ws.sent == [1, 2, 3, "ping"]
        ws.blocked = None
        peer.send(link.kill_task("j", 4, 1))
        await peer.close()
        assert ws.sent == [1, 2, 3, "ping", 4]

    asyncio.run(scenario())


def test_node_link_stops_after_a_failed_write():
    class Broken(FakeSocket):
        async def send_str(self, text):
            raise ConnectionResetError("gone")

    async def scenario():
        ws = Broken()
        peer = NodeLink("h", ws)
        await _settle()
        peer.send(link.kill_task("j", 1, 1))
        peer.send(link.kill_task("j", 2, 1))
        await asyncio.wait_for(peer.close(), 5)
        assert ws.sent == []

    asyncio.run(scenario())


class RecordingStore:
    def __init__(self):
        self.rows: list[tuple] = []

    async def save_tasks(self, rows):
        self.rows.extend(rows)


class RecordingLink:
    def __init__(self):
        self.messages: list[dict] = []

    def send(self, message):
        self.messages.append(message)


def test_task_rows_are_built_once_per_flush_and_slots_refilled_at_once(tmp_path):
    from disco.master.events import EventLogs
    from disco.master.grouping import output_from_input
    from disco.master.jobs import JobCoordinator, JobOptions
    from disco.master.master import JobEntry, Master
    from disco.master.nodes import Cluster
    from disco.settings import DiscoSettings

    async def scenario():
        settings = DiscoSettings({"DISCO_ROOT": str(tmp_path), "DISCO_HOME": str(tmp_path),
                                  "DISCO_MASTER_HOST": "localhost"}).typed()
        nodes = Cluster(settings)
        nodes.apply_table({"localhost": 1}, [], [])
        node = nodes.node("localhost")
        node.connected, node.link = True, RecordingLink()
        store = RecordingStore()
        master = Master(settings, nodes, store, EventLogs(str(tmp_path)))
        master.cluster_changed()
        coordinator = JobCoordinator("J", [("map", "split", False)],
                                     [output_from_input(0, 0, [f"raw://{i}"]) for i in range(3)],
                                     JobOptions("w", "u"), hosts={"localhost"})
        entry = JobEntry("J", {"name": "J", "status": "active", "stage_results": {}}, coordinator)
        master.jobs["J"] = entry
        master.scheduler.add_job("J")
        master.apply(entry, coordinator.start(time.time()))
        await asyncio.sleep(0)                              # the scheduling pass
        assert [m["task"] for m in node.link.messages] == [0]
        master.flush_tasks()
        await asyncio.sleep(0)
        assert sorted((r[1], r[7]) for r in store.rows) == [(0, "running"), (1, "queued"),
                                                           (2, "queued")]
        store.rows.clear()
        for task in (0, 1):  # each task_done starts the next task before returning
            master.node_message(
                "localhost",
                link.task_done("J", task, 1, [[f"disco://localhost/x/{task}", [[0, 1]]]]),
            )
            assert node.link.messages[-1]["task"] == task + 1
        master.flush_tasks()
        await asyncio.sleep(0)
        assert sorted((r[1], r[7]) for r in store.rows) == [(0, "done"), (1, "done"),
                                                           (2, "running")]
        assert master.metrics["tasks_done"] == 2

    asyncio.run(scenario())
