"""The supervisor's pipe handling: replies bigger than a pipe, held (rate-limited) replies that
keep their order, a worker that exits while a grandchild keeps its output open, and the fork
client's bookkeeping (a cancelled fork request, exits before and after the fork reply)."""
from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from disco.node.forkclient import ForkedWorker, ForkLauncher
from disco.node.supervisor import ExecLauncher

from nodetest_helpers import PackServer, TaskCase, build_jobpack, fast, run_case

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["exec", "fork"])
def launcher(request):
    return request.param


def scenario(tmp_path, name: str, kind: str, **kwargs) -> TaskCase:
    async def go():
        launcher = ForkLauncher(ExecLauncher()) if kind == "fork" else ExecLauncher()
        try:
            async with PackServer() as server:
                job = f"pipes@{name}"
                server.packs[job] = build_jobpack(name)  # tests/node/scenario_worker.py
                case = TaskCase(str(tmp_path), server, name, job=job, launcher=launcher,
                                **kwargs)
                await run_case(case)
                await case.jobhomes.close()
                return case
        finally:
            if kind == "fork":
                await launcher.close()
    return asyncio.run(go())


def test_reply_bigger_than_the_pipe_is_written_whole(tmp_path, launcher):
    inputs = [[i, "ok", 0, [[0, f"raw://{'x' * 100}{i}"]]] for i in range(2000)]
    case = scenario(tmp_path, "big_input", launcher, inputs=inputs)
    assert case.final()["op"] == "task_done", case.sent
    assert case.events()[0] == "MSG: [map:0] done 2000"


def test_rate_limited_replies_keep_their_order(tmp_path, launcher):
    started = time.monotonic()
    case = scenario(tmp_path, "pipelined", launcher,
                    config=fast(msg_rate_slow=5, msg_rate_max=20))
    assert case.final()["op"] == "task_done", case.sent
    replies = json.loads(case.events()[-2].split("] ", 1)[1])
    assert replies == [["OK", "ok"]] * 7 + [["OK", "pong"]]
    assert time.monotonic() - started >= 2 * 0.2  # MSGs 6 and 7 were held 200 ms each


def test_worker_exit_while_a_grandchild_holds_the_pipe_is_a_crash(tmp_path, launcher):
    started = time.monotonic()
    case = scenario(tmp_path, "orphaned_output", launcher)
    assert case.final()["message"] == "Worker crashed! (exit code: 3)"
    # found by the task's timer: poll_interval 0.2 s + exit_grace 0.5 s, not the sleep's 30 s
    assert time.monotonic() - started < 10


def make_home(tmp_path) -> str:
    home = tmp_path / "home"
    home.mkdir()
    worker = home / "worker"
    worker.write_text("#!/usr/bin/env python3\n# disco-python-worker\nimport os\n"
                      "print(os.getpid(), flush=True)\n")
    worker.chmod(0o755)
    return str(home)


def test_cancelled_fork_request_does_not_shift_the_replies(tmp_path):
    home = make_home(tmp_path)

    async def go():
        launcher = ForkLauncher(ExecLauncher(), zygote_idle=0)
        client = launcher._client
        argv, env = [os.path.join(home, "worker")], dict(os.environ)
        try:
            await (await launcher.launch(argv, home, env)).wait()  # the server is up
            pending = asyncio.create_task(client.fork(argv, home, env))
            while client._reply is None or client._reply.done():
                await asyncio.sleep(0)
            pending.cancel()  # its reply is still to come
            with pytest.raises(asyncio.CancelledError):
                await pending
            worker = await launcher.launch(argv, home, env)
            printed = int(await worker.stdout.readline())
            return worker.pid, printed, await asyncio.wait_for(worker.wait(), 10)
        finally:
            await launcher.close()
    pid, printed, code = asyncio.run(go())
    assert pid == printed and code == 0


def test_forked_worker_wait_times_out_without_losing_the_exit():
    async def go():
        worker = ForkedWorker(12345, -1, -1)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(worker.wait(), 0.05)
        assert worker.returncode is None
        later = asyncio.create_task(worker.wait())
        await asyncio.sleep(0)
        worker.exited(-9)
        return await later, worker.returncode, await worker.wait()
    assert asyncio.run(go()) == (-9, -9, -9)
