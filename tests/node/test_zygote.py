"""Per-job zygotes of the fork server: a job's tasks fork from one process that imported the
job's modules, yet each task is still its own process."""
from __future__ import annotations

import asyncio
import os
import signal
import time
import types

import pytest

from disco import dPickle
from disco.node.forkclient import ForkLauncher
from disco.node.supervisor import ExecLauncher
from disco.protocol import jobpack as jobpack_codec

pytestmark = pytest.mark.timeout(30)

WORKER = """#!/usr/bin/env python3
# disco-python-worker
import os, sys, time
import jobmod
jobmod.COUNTER += 1
print(os.getpid(), os.getppid(), jobmod.COUNTER, flush=True)
if len(sys.argv) > 1:
    time.sleep(float(sys.argv[1]))
"""

#: counts its imports in imports.log (in the job home, the cwd of whoever imports it)
JOBMOD = """
COUNTER = 0
with open("imports.log", "a") as log:
    log.write("imported\\n")
"""


def make_home(tmp_path, name: str = "job") -> str:
    """A job home: the worker, lib/jobmod.py and a job pack whose worker requires jobmod."""
    home = tmp_path / name
    (home / "lib").mkdir(parents=True)
    (home / "lib" / "jobmod.py").write_text(JOBMOD)
    worker = home / "worker"
    worker.write_text(WORKER)
    worker.chmod(0o755)
    job = types.SimpleNamespace(worker={"required_modules": ["jobmod"]})
    jobdata = dPickle.dumps((job, {}))
    (home / "jobfile").write_bytes(jobpack_codec.pack(1, {}, {}, b"", jobdata))
    return str(home)


async def run_task(launcher, home: str, *args: str) -> tuple[list[int], int]:
    """Launch the worker of `home`; its printed (pid, ppid, counter) and exit code."""
    env = dict(os.environ, PYTHONPATH="lib")
    process = await launcher.launch([os.path.join(home, "worker"), *args], home, env)
    output = await process.stdout.read()
    code = await process.wait()
    return [int(x) for x in output.split()], code


def imports(home: str) -> int:
    with open(os.path.join(home, "imports.log")) as log:
        return len(log.readlines())


def gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def with_launcher(body, zygote_idle: float = 30.0):
    async def go():
        launcher = ForkLauncher(ExecLauncher(), zygote_idle=zygote_idle)
        try:
            return await body(launcher)
        finally:
            await launcher.close()
    return asyncio.run(go())


def test_tasks_of_a_job_share_one_zygote_but_not_state(tmp_path):
    home = make_home(tmp_path)

    async def body(launcher):
        return [await run_task(launcher, home) for _ in range(3)]
    results = with_launcher(body)
    assert [code for _out, code in results] == [0, 0, 0]
    pids = {out[0] for out, _ in results}
    zygotes = {out[1] for out, _ in results}
    assert len(pids) == 3 and len(zygotes) == 1  # three processes, one parent
    assert zygotes.isdisjoint({os.getpid()})
    # every task saw the module as imported, untouched by the task before it
    assert [out[2] for out, _ in results] == [1, 1, 1]
    assert imports(home) == 1  # imported once, by the zygote


def test_each_job_gets_its_own_zygote(tmp_path):
    first, second = make_home(tmp_path, "a"), make_home(tmp_path, "b")

    async def body(launcher):
        return await run_task(launcher, first), await run_task(launcher, second)
    (out_a, code_a), (out_b, code_b) = with_launcher(body)
    assert code_a == code_b == 0
    assert out_a[1] != out_b[1]


def test_forgotten_job_zygote_exits_after_its_running_task(tmp_path):
    home = make_home(tmp_path)

    async def body(launcher):
        (_pid, zygote, _n), _code = await run_task(launcher, home)
        env = dict(os.environ, PYTHONPATH="lib")
        slow = await launcher.launch([os.path.join(home, "worker"), "0.5"], home, env)
        launcher.forget_job(home)
        line = await slow.stdout.readline()
        assert int(line.split()[1]) == zygote  # forked before the job was forgotten
        assert await slow.wait() == 0  # and its exit still reported
        assert gone(zygote)
        (_pid, again, _n), code = await run_task(launcher, home)
        return zygote, again, code
    zygote, again, code = with_launcher(body)
    assert code == 0 and again != zygote  # a new task of that job home: a new zygote


def test_idle_zygote_exits(tmp_path):
    home = make_home(tmp_path)

    async def body(launcher):
        (_pid, zygote, _n), _code = await run_task(launcher, home)
        return zygote
    # the launcher's close would end it anyway: check it went before, while still serving
    async def idle_body(launcher):
        zygote = await body(launcher)
        assert await asyncio.to_thread(gone, zygote, 5.0)
        return True
    assert with_launcher(idle_body, zygote_idle=0.3)


def test_killed_zygote_reports_its_tasks_killed(tmp_path):
    home = make_home(tmp_path)

    async def body(launcher):
        env = dict(os.environ, PYTHONPATH="lib")
        slow = await launcher.launch([os.path.join(home, "worker"), "30"], home, env)
        _pid, zygote, _n = (int(x) for x in (await slow.stdout.readline()).split())
        os.kill(zygote, signal.SIGKILL)
        code = await asyncio.wait_for(slow.wait(), 10)
        out, again = await run_task(launcher, home)
        return code, again, out[1] != zygote
    code, again, new_zygote = with_launcher(body)
    assert code == -signal.SIGKILL
    assert again == 0 and new_zygote


def test_without_zygotes_tasks_fork_from_the_server(tmp_path):
    home = make_home(tmp_path)

    async def body(launcher):
        return [await run_task(launcher, home) for _ in range(2)]
    results = with_launcher(body, zygote_idle=0)
    assert [code for _out, code in results] == [0, 0]
    assert imports(home) == 2  # each task imported the job's module itself


def test_other_executables_are_execed(tmp_path):
    home = make_home(tmp_path)
    script = os.path.join(home, "worker")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n# disco-python-worker is not on line 2\necho $$ $PPID 1\n")

    async def body(launcher):
        return await run_task(launcher, home)
    (_pid, parent, _n), code = with_launcher(body)
    assert code == 0 and parent == os.getpid()  # started by the node itself
    assert not os.path.exists(os.path.join(home, "imports.log"))


def test_job_modules_starting_threads_get_no_zygote(tmp_path):
    """Forking a process with threads can deadlock its child: such a job's first task is
    exec'd, the later ones are forked by the server itself."""
    home = make_home(tmp_path)
    with open(os.path.join(home, "lib", "jobmod.py"), "a") as f:
        f.write("import threading, time\n"
                "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n")

    async def body(launcher):
        first = await run_task(launcher, home)
        second = await run_task(launcher, home)
        return first, second, launcher._client._process.pid
    (out1, code1), (out2, code2), server = with_launcher(body)
    assert code1 == code2 == 0
    assert out1[1] == os.getpid()  # exec'd by the node
    assert out2[1] == server  # forked by the fork server, not by a zygote
