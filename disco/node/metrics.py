"""Prometheus metrics of one node: its tasks and its DDFS disk (`GET /metrics`).

Counters are fed by watching the messages the node sends the master (`task_done`,
`task_failed`), so the supervisor needs no metrics code of its own.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from aiohttp import web

from disco.protocol import cluster

#: (name, type, help) of every metric, in the order they are written
METRICS = (
    ("disco_node_tasks_running", "gauge", "Tasks whose worker is running on this node."),
    ("disco_node_tasks_done_total", "counter", "Tasks that finished on this node."),
    ("disco_node_task_failures_total", "counter", "Task attempts that failed on this node."),
    ("disco_node_task_seconds_total", "counter", "Seconds of worker time of finished tasks."),
    ("disco_node_ddfs_bytes_free", "gauge", "Free bytes on the DDFS data disk."),
    ("disco_node_ddfs_bytes_used", "gauge", "Used bytes on the DDFS data disk."),
)


class NodeMetrics:
    """Task counters of one node, fed by the messages it sends."""

    def __init__(self, host: str, now: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        self._now = now
        self.started: dict[tuple, float] = {}
        self.done = 0
        self.failures: dict[str, int] = {cluster.KIND_ERROR: 0, cluster.KIND_FATAL: 0}
        self.seconds = 0.0

    def task_started(self, key: tuple) -> None:
        self.started[key] = self._now()

    def observe(self, message: dict) -> None:
        """Count a message the node is about to send to the master."""
        op = message.get("op")
        if op not in (cluster.TASK_DONE, cluster.TASK_FAILED):
            return
        key = (message["job"], message["task"], message["attempt"])
        start = self.started.pop(key, None)
        if start is not None:
            self.seconds += self._now() - start
        if op == cluster.TASK_DONE:
            self.done += 1
        else:
            kind = message.get("kind", cluster.KIND_ERROR)
            self.failures[kind] = self.failures.get(kind, 0) + 1

    def render(self, running: int, disk_free_kb: int, disk_used_kb: int) -> str:
        """The Prometheus text exposition of every metric."""
        label = f'host="{self.host}"'
        values: dict[str, Any] = {
            "disco_node_tasks_running": [(label, running)],
            "disco_node_tasks_done_total": [(label, self.done)],
            "disco_node_task_failures_total": [
                (f'{label},kind="{kind}"', count) for kind, count in sorted(self.failures.items())],
            "disco_node_task_seconds_total": [(label, round(self.seconds, 6))],
            "disco_node_ddfs_bytes_free": [(label, disk_free_kb * 1024)],
            "disco_node_ddfs_bytes_used": [(label, disk_used_kb * 1024)],
        }
        lines = []
        for name, kind, help_text in METRICS:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            lines += [f"{name}{{{labels}}} {value}" for labels, value in values[name]]
        return "\n".join(lines) + "\n"


def add_metrics_route(app: web.Application, render: Callable[[], str]) -> None:
    """Serve `render()` at `GET /metrics` on `app`."""
    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(text=render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    app.router.add_get("/metrics", metrics)
