"""What a job's zygote keeps for its tasks: the unpickled job objects
(`disco.task.preload_jobobjs`), the compiled worker file and the tasks' sys.path. Each task still
starts from a pristine copy:
what one task changes in them, the next task of the job does not see."""
from __future__ import annotations

import asyncio
import json
import os
import types

import pytest

from disco import dPickle
from disco.node.forkclient import ForkLauncher
from disco.node.supervisor import ExecLauncher
from disco.protocol import jobpack as jobpack_codec

pytestmark = pytest.mark.timeout(30)

#: prints what the task saw of its job objects and globals as one JSON line, then changes them
WORKER = """#!/usr/bin/env python3
# disco-python-worker
import json, os, sys
import disco.task
import jobmod
preloaded = disco.task._preloaded
task = disco.task.Task(jobfile=os.path.abspath("jobfile"))
job, jobargs = task.jobobjs
again, _ = disco.task.Task(jobfile=task.jobfile).jobobjs  # another Task: its own copy
def annotated(x: int): pass
print(json.dumps({"preloaded": preloaded is not None and preloaded[1][0] is job,
                  "again": again is not job and again.items == job.items,
                  "items": list(job.items), "seen": list(jobargs["seen"]),
                  "counter": jobmod.COUNTER, "label": job.label,
                  "annotation": str(annotated.__annotations__["x"]),
                  "path": sys.path[:3], "argv": sys.argv}), flush=True)
job.items.append(os.getpid())
jobargs["seen"].append(1)
jobmod.COUNTER += 1
"""

JOBMOD = "COUNTER = 0\n"


def write_jobfile(home: str, label: str) -> None:
    job = types.SimpleNamespace(worker={"required_modules": ["jobmod"]}, items=[], label=label)
    jobdata = dPickle.dumps((job, {"seen": []}))
    path = os.path.join(home, "jobfile")
    with open(path + ".new", "wb") as f:
        f.write(jobpack_codec.pack(1, {}, {}, b"", jobdata))
    os.replace(path + ".new", path)  # as the node writes it: a new file


def make_home(tmp_path, worker: str = WORKER) -> str:
    home = tmp_path / "job"
    (home / "lib").mkdir(parents=True)
    (home / "lib" / "jobmod.py").write_text(JOBMOD)
    script = home / "worker"
    script.write_text(worker)
    script.chmod(0o755)
    write_jobfile(str(home), "first")
    return str(home)


async def run_task(launcher, home: str) -> tuple[dict, int]:
    env = dict(os.environ, PYTHONPATH="lib")
    process = await launcher.launch([os.path.join(home, "worker")], home, env)
    output = await process.stdout.read()
    code = await process.wait()
    assert code == 0, output
    return json.loads(output), code


def run_tasks(home: str, count: int, zygote_idle: float = 30.0, between=None) -> list[dict]:
    async def go():
        launcher = ForkLauncher(ExecLauncher(), zygote_idle=zygote_idle)
        try:
            seen = []
            for index in range(count):
                if between is not None and index:
                    between(index)
                seen.append((await run_task(launcher, home))[0])
            return seen
        finally:
            await launcher.close()
    return asyncio.run(go())


def test_tasks_get_the_zygotes_job_objects_each_pristine(tmp_path):
    home = make_home(tmp_path)
    seen = run_tasks(home, 3)
    assert all(s["preloaded"] and s["again"] for s in seen)  # not unpickled again by the tasks
    # what the task before changed (job object, jobargs, the job's module) is not seen
    assert [(s["items"], s["seen"], s["counter"]) for s in seen] == [([], [], 0)] * 3


def test_without_zygote_tasks_unpickle_their_own(tmp_path):
    home = make_home(tmp_path)
    seen = run_tasks(home, 2, zygote_idle=0)
    assert [s["preloaded"] for s in seen] == [False, False]
    assert [(s["items"], s["seen"], s["counter"]) for s in seen] == [([], [], 0)] * 2


def test_a_new_job_pack_at_the_same_path_is_read_again(tmp_path):
    home = make_home(tmp_path)
    seen = run_tasks(home, 2, between=lambda _index: write_jobfile(home, "second"))
    assert [s["label"] for s in seen] == ["first", "second"]
    assert seen[0]["preloaded"] and not seen[1]["preloaded"]


def test_a_changed_worker_file_is_compiled_again(tmp_path):
    home = make_home(tmp_path)
    script = os.path.join(home, "worker")

    def change(_index):
        with open(script, "a") as f:
            f.write("print(json.dumps({'changed': True}), flush=True)\n")
    async def go():
        launcher = ForkLauncher(ExecLauncher(), zygote_idle=30.0)
        try:
            env = dict(os.environ, PYTHONPATH="lib")
            outputs = []
            for index in range(2):
                if index:
                    change(index)
                process = await launcher.launch([script], home, env)
                outputs.append((await process.stdout.read()).decode().splitlines())
                assert await process.wait() == 0
            return outputs
        finally:
            await launcher.close()
    first, second = asyncio.run(go())
    assert len(first) == 1 and json.loads(second[1]) == {"changed": True}


def test_worker_runs_as_a_fresh_interpreter_would(tmp_path):
    """Compiled by the fork server or zygote, the worker file still gets no __future__ flag of
    theirs; argv and the first sys.path entries are those of `python3 <worker>` in every case."""
    home = make_home(tmp_path)
    forked = run_tasks(home, 2)
    served = run_tasks(home, 1, zygote_idle=0)
    for seen in forked + served:
        assert seen["annotation"] == "<class 'int'>"
        assert seen["argv"] == [os.path.join(home, "worker")]
        assert seen["path"][:2] == [home, os.path.join(home, "lib")]
    assert forked[0]["path"] == forked[1]["path"] == served[0]["path"]


STDIN_WORKER = """#!/usr/bin/env python3
# disco-python-worker
import json, os, sys
import disco.worker, disco.worker.channel
preopened = disco.worker.channel._null_stdin
disco.worker.install_channel()
result = {"preopened": preopened is not None and sys.stdin is preopened,
          "read": sys.stdin.read(), "fd0": os.read(0, 10).decode()}
with open("stdin-%d.json" % os.getpid(), "w") as f:
    json.dump(result, f)
"""


@pytest.mark.parametrize("zygote_idle", [30.0, 0])
def test_workers_stdin_is_an_empty_file(tmp_path, zygote_idle):
    """`install_channel` makes sys.stdin /dev/null: opened ahead by the fork server."""
    home = make_home(tmp_path, STDIN_WORKER)

    async def go():
        launcher = ForkLauncher(ExecLauncher(), zygote_idle=zygote_idle)
        try:
            env = dict(os.environ, PYTHONPATH="lib")
            for _ in range(2):
                process = await launcher.launch([os.path.join(home, "worker")], home, env)
                await process.stdout.read()
                assert await process.wait() == 0
        finally:
            await launcher.close()
    asyncio.run(go())
    results = [json.loads((tmp_path / "job" / name).read_text())
               for name in os.listdir(home) if name.startswith("stdin-")]
    assert results == [{"preopened": True, "read": "", "fd0": ""}] * 2
