"""Helpers for the node tests: job packs with a test worker, a job pack server, a task runner."""
from __future__ import annotations

import asyncio
import io
import os
import zipfile
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from disco.node.jobhome import JobHomes
from disco.node.protocol import TaskInfo
from disco.node.supervisor import ExecLauncher, SupervisorConfig, TaskRunner, worker_base_env
from disco.protocol import jobpack

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = "scenario_worker.py"
HOST = "testhost"

FAST = SupervisorConfig(start_timeout=5, message_timeout=5, last_words_timeout=0.5,
                        exit_grace=0.5, poll_interval=0.2)


def build_jobpack(scenario: str, worker_source: str | None = None) -> bytes:
    """A v1 job pack whose job home holds the scenario worker; jobenvs select the scenario."""
    if worker_source is None:
        with open(os.path.join(HERE, WORKER), encoding="utf-8") as f:
            worker_source = f.read()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(WORKER, worker_source)
        archive.writestr("lib/data.txt", "payload")
    jobdict = {"prefix": "test", "worker": WORKER, "owner": "test@test", "scheduler": {},
               "input": [], "nr_reduces": 1}
    return jobpack.pack(jobpack.VERSION1, jobdict, {"SCENARIO": scenario}, buffer.getvalue(),
                        b"")


class PackServer:
    """Serves job packs at /disco/ctrl/parameters?name=J (a stand-in for the master's route)."""

    def __init__(self) -> None:
        self.packs: dict[str, bytes] = {}
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> "PackServer":
        app = web.Application()
        app.router.add_get("/disco/ctrl/parameters", self._get)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _get(self, request: web.Request) -> web.Response:
        name = request.query["name"]
        self.requests.append(name)
        await asyncio.sleep(0.05)  # widen the window for concurrent fetches
        return web.Response(body=self.packs[name])

    def jobpack_url(self, job: str) -> str:
        return f"{self.url}/disco/ctrl/parameters?name={job}"


@dataclass
class TaskCase:
    """One task run against a scenario; `sent` collects what the node would send the master."""

    tmp: str
    server: PackServer
    scenario: str
    job: str = ""
    inputs: list = field(default_factory=list)
    inputs_done: bool = True
    config: SupervisorConfig = FAST
    sent: list = field(default_factory=list)
    jobhomes: JobHomes | None = None
    task: int = 0
    launcher: Any = None

    def __post_init__(self) -> None:
        self.job = self.job or f"test@{self.scenario}"
        if self.job not in self.server.packs:
            self.server.packs[self.job] = build_jobpack(self.scenario)
        if self.jobhomes is None:
            self.jobhomes = JobHomes(os.path.join(self.tmp, "data"), HOST)

    def runner(self) -> TaskRunner:
        message = {"op": "run_task", "job": self.job, "task": self.task, "attempt": 0,
                   "stage": "map", "grouping": "split", "group": [0, None], "worker": WORKER,
                   "jobpack": self.server.jobpack_url(self.job), "inputs": self.inputs,
                   "inputs_done": self.inputs_done}
        assert self.jobhomes is not None
        info = TaskInfo(job=self.job, task=self.task, attempt=0, stage="map", grouping="split",
                        group=[0, None], host=HOST, master=self.server.url, disco_port=8989,
                        put_port=8990, ddfs_data=os.path.join(self.tmp, "ddfs"),
                        disco_data=os.path.join(self.tmp, "data"),
                        jobfile=os.path.join(self.jobhomes.path(self.job), "jobfile"))
        return TaskRunner(message, info, self.jobhomes, self.launcher or ExecLauncher(),
                          worker_base_env(),
                          self.config, self.sent.append)

    def ops(self, op: str) -> list[dict]:
        return [m for m in self.sent if m["op"] == op]

    def events(self) -> list[str]:
        return [m["message"] for m in self.ops("event")]

    def final(self) -> dict:
        finals = [m for m in self.sent if m["op"] in ("task_done", "task_failed")]
        assert len(finals) == 1, self.sent
        return finals[0]

    def home(self) -> str:
        assert self.jobhomes is not None
        return self.jobhomes.path(self.job)

    def received(self) -> list:
        import json
        path = os.path.join(self.home(), f"received-{self.scenario}.json")
        with open(path, encoding="utf-8") as f:
            return json.load(f)


def fast(**changes: Any) -> SupervisorConfig:
    return replace(FAST, **changes)


async def run_case(case: TaskCase, timeout: float = 20) -> TaskRunner:
    runner = case.runner()
    await asyncio.wait_for(runner.run(), timeout)
    return runner
