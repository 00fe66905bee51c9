"""The worker protocol, node side: real worker processes driven by the real TaskRunner."""
from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from disco.node.forkclient import ForkLauncher
from disco.node.supervisor import ExecLauncher
from disco.sysutil import pid_alive

from nodetest_helpers import HOST, PackServer, TaskCase, fast, run_case

pytestmark = pytest.mark.timeout(60)


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(params=["exec", "fork"])
def kind(request):
    """Both ways of starting a worker: exec, and fork from the pre-imported fork server."""
    return request.param


def make_launcher(kind: str):
    return ForkLauncher(ExecLauncher()) if kind == "fork" else ExecLauncher()


def scenario(tmp_path, name: str, kind: str = "exec", **kwargs):
    """Run one scenario to completion; returns the TaskCase."""
    async def go():
        launcher = make_launcher(kind)
        try:
            async with PackServer() as server:
                case = TaskCase(str(tmp_path), server, name, launcher=launcher, **kwargs)
                await run_case(case)
                await case.jobhomes.close()
                return case
        finally:
            if kind == "fork":
                await launcher.close()
    return run(go())


def test_clean_session_outputs_and_index(tmp_path, kind):
    inputs = [[0, "ok", 0, [[0, "raw://a"], [1, "raw://b"]]]]
    case = scenario(tmp_path, "clean", kind, inputs=inputs)
    done = case.final()
    assert done["op"] == "task_done", case.sent
    (url, sizes), remote = done["results"]
    hh_job = os.path.relpath(case.home(), os.path.join(str(tmp_path), "data", HOST))
    assert url.startswith(f"dir://{HOST}/disco/{HOST}/{hh_job}/.disco/map-0-")
    assert url.endswith(".results")
    assert sizes == [[0, 5], [1, 10]]
    assert remote == ["http://elsewhere/x", [[2, 9]]]
    index = os.path.join(case.home(), ".disco", url.rsplit("/", 1)[1])
    with open(index, encoding="utf-8") as f:
        lines = f.read().splitlines()
    prefix = f"disco://{HOST}/disco/{HOST}/{hh_job}/"
    assert lines == [f"0 {prefix}out/a 5", f"1 {prefix}out/b 7", f"1 {prefix}out/c 3"]
    received = case.received()
    assert received[0] == ["OK", "ok"]
    name, task = received[1]
    assert name == "TASK"
    assert task["taskid"] == 0 and task["stage"] == "map" and task["host"] == HOST
    assert task["jobname"] == case.job and task["group"] == [0, ""]
    assert task["jobfile"] == os.path.join(case.home(), "jobfile")
    assert os.path.isabs(task["jobfile"]) and os.path.exists(task["jobfile"])
    for key in ("master", "disco_port", "put_port", "ddfs_data", "disco_data", "grouping"):
        assert key in task
    assert received[2] == ["INPUT", ["done", inputs]]
    assert received[-1] == ["OK", "pong"]
    events = case.events()
    assert events[0] == "MSG: [map:0] hello from map"
    assert events[-1].startswith("DONE: [map:0] Task finished in 0:00:")
    assert os.path.exists(os.path.join(case.home(), ".jobhome"))
    assert os.access(os.path.join(case.home(), "scenario_worker.py"), os.X_OK)


def test_input_reply_deferred_until_more_inputs(tmp_path):
    async def go():
        async with PackServer() as server:
            case = TaskCase(str(tmp_path), server, "deferred", inputs=[], inputs_done=False)
            runner = case.runner()
            task = asyncio.create_task(runner.run())
            await asyncio.sleep(1.0)
            assert not task.done()
            assert not case.ops("event")  # no INPUT reply yet, so no MSG
            runner.add_inputs([[0, "ok", 3, [[0, "raw://x"]]]], True)
            await asyncio.wait_for(task, 10)
            await case.jobhomes.close()
            return case
    case = run(go())
    assert case.final()["op"] == "task_done"
    flag, inputs = json.loads(case.events()[0].split("] ", 1)[1])
    assert flag == "done" and inputs == [[0, "ok", 3, [[0, "raw://x"]]]]


def test_input_reply_says_more_while_inputs_incomplete(tmp_path):
    case = scenario(tmp_path, "deferred", inputs=[[0, "ok", 0, [[0, "raw://x"]]]],
                    inputs_done=False)
    flag, _inputs = json.loads(case.events()[0].split("] ", 1)[1])
    assert flag == "more"


def test_input_err_retry_then_fail(tmp_path, kind):
    inputs = [[0, "ok", 0, [[0, "http://a/x"], [1, "http://b/x"]]]]
    case = scenario(tmp_path, "input_err", kind, inputs=inputs)
    received = case.received()
    assert received[3] == ["RETRY", [[1, "http://b/x"]]]
    assert received[4] == ["FAIL", ""]
    failed = case.ops("input_failed")
    assert failed == [{"op": "input_failed", "job": case.job, "task": 0, "attempt": 0,
                       "input": 0, "urls": ["http://a/x", "http://b/x"]}]
    assert case.final()["op"] == "task_done"


def test_stray_line_on_stderr_fails_task_with_last_words(tmp_path, kind):
    started = time.monotonic()
    case = scenario(tmp_path, "garbage", kind)
    failed = case.final()
    assert failed["op"] == "task_failed" and failed["kind"] == "error"
    assert failed["message"].startswith("Worker died. Last words:\n")
    assert "DeprecationWarning: something is deprecated" in failed["message"]
    assert time.monotonic() - started < 10
    assert any(e.startswith("WARNING: [map:0] Could not parse worker event")
               for e in case.events())


def test_traceback_then_exit_fails_task_with_last_words(tmp_path, kind):
    case = scenario(tmp_path, "garbage_exit", kind)
    failed = case.final()
    assert failed["kind"] == "error"
    assert "Traceback (most recent call last):\n  boom" in failed["message"]


def test_death_in_the_middle_of_a_message_is_a_crash(tmp_path, kind):
    case = scenario(tmp_path, "midmessage_exit", kind)
    failed = case.final()
    assert failed == {"op": "task_failed", "job": case.job, "task": 0, "attempt": 0,
                      "kind": "error", "message": "Worker crashed! (exit code: 3)"}


def test_stuck_in_the_middle_of_a_message(tmp_path):
    case = scenario(tmp_path, "midmessage_stuck", config=fast(message_timeout=0.6))
    assert case.final()["message"] == "Worker stuck in the middle of a message"


def test_exit_without_done_is_a_crash(tmp_path, kind):
    case = scenario(tmp_path, "crash", kind)
    assert case.final()["message"] == "Worker crashed! (exit code: 3)"
    assert "WARNING: [map:0] Worker crashed! (exit code: 3)" in case.events()


def test_msg_flood_is_fatal(tmp_path, kind):
    case = scenario(tmp_path, "flood", kind, config=fast(msg_rate_slow=5, msg_rate_max=10))
    failed = case.final()
    assert failed["kind"] == "fatal"
    assert failed["message"] == ("Worker is behaving badly: Sent 10 events in a second, "
                                 "ignoring replies.")
    msgs = [e for e in case.events() if e.startswith("MSG:")]
    assert 6 <= len(msgs) <= 10


def test_start_timeout(tmp_path, kind):
    case = scenario(tmp_path, "slow_start", kind, config=fast(start_timeout=0.7))
    failed = case.final()
    assert failed["kind"] == "error"
    assert failed["message"] == "Worker did not send its PID in 0.7 seconds"


def test_absolute_output_path_is_an_error(tmp_path):
    failed = scenario(tmp_path, "absolute_output").final()
    assert failed["kind"] == "error" and "invalid_output" in failed["message"]


@pytest.mark.parametrize("name, text", [
    ("unknown", "Unknown message type 'BOGUS', body:\n\"x\""),
    ("bad_json", "Payload is not valid JSON: type 'MSG', body:\nabc"),
    ("bad_version", "Invalid worker version: '0.9'"),
    ("fatal", "user code raised"),
])
def test_fatal_outcomes(tmp_path, name, text):
    failed = scenario(tmp_path, name).final()
    assert failed["kind"] == "fatal" and failed["message"] == text


def test_worker_error_is_retryable(tmp_path):
    failed = scenario(tmp_path, "error").final()
    assert failed["kind"] == "error" and failed["message"] == "could not read input"


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                    fields = f.read().rsplit(") ", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


def test_kill_reaches_grandchildren(tmp_path, kind):
    async def go():
        launcher = make_launcher(kind)
        async with PackServer() as server:
            case = TaskCase(str(tmp_path), server, "grandchildren", launcher=launcher)
            runner = case.runner()
            task = asyncio.create_task(runner.run())
            for _ in range(100):
                if case.events():
                    break
                await asyncio.sleep(0.1)
            pids = json.loads(case.events()[0].split("] ", 1)[1])
            pgid = runner._process.pid
            assert (type(runner._process).__name__ == "ForkedWorker") == (kind == "fork")
            assert all(pid_alive(p) for p in pids)
            # worker, 4 children, 1+ great-grandchild (which may still be starting)
            for _ in range(50):
                if len(_group_members(pgid)) >= 6:
                    break
                await asyncio.sleep(0.1)
            assert len(_group_members(pgid)) >= 6
            runner.kill()
            await asyncio.wait_for(task, 10)
            await case.jobhomes.close()
            if kind == "fork":
                await launcher.close()
            return case, pids, pgid
    case, pids, pgid = run(go())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (_group_members(pgid) or any(map(pid_alive, pids))):
        time.sleep(0.05)
    assert _group_members(pgid) == []
    assert not any(pid_alive(p) for p in pids)
    assert not case.ops("task_failed") and not case.ops("task_done")  # killed: no report


def test_concurrent_tasks_of_one_job_fetch_and_extract_once(tmp_path):
    async def go():
        async with PackServer() as server:
            first = TaskCase(str(tmp_path), server, "startup", job="shared@1")
            cases = [first] + [TaskCase(str(tmp_path), server, "startup", job="shared@1",
                                        jobhomes=first.jobhomes, task=i) for i in range(1, 4)]
            await asyncio.gather(*(run_case(c) for c in cases))
            await first.jobhomes.close()
            return server, cases
    server, cases = run(go())
    assert server.requests == ["shared@1"]
    assert all(c.final()["op"] == "task_done" for c in cases)
