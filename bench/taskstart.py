"""Start-up cost of one *real* classic task on a node: ``python -m bench.taskstart [N] [--profile]``.

`tests/node/bench_startup.py` measures the fork server with a minimal launcher; this runs the
job pack of `bench.workloads.Trivial` (the `tasks` workload: one ``raw://`` input, a trivial
``map``) through the node's `TaskRunner` and fork server, as the node does for every task of a
job after its first: from `TaskRunner.run()` to the `task_done` report.  No master and no
websocket: what is left is fork + the Python worker (imports, unpickling the job, the worker
protocol, writing the output) + the node's index file.

``--profile`` replaces the job home's launcher by one that runs `Worker.main` under cProfile
(the fork server still forks it) and prints the worker's cumulative hot spots. ``--phases``
prints the worker's CPU ms and minor page faults since the fork at each protocol message and
start-up step (its instrumentation costs ~0.3 ms of its own); ``--light`` only at the
launcher's first line and at DONE. Both also print the job zygote's own CPU and page faults
per task (mostly its fork) and its workers' CPU including their exit.
"""
from __future__ import annotations

import argparse
import asyncio
import glob
import os
import pstats
import statistics
import sys
import tempfile
import time

from aiohttp import web

from disco.node.forkclient import ForkLauncher
from disco.node.jobhome import JobHomes
from disco.node.protocol import TaskInfo
from disco.node.supervisor import ExecLauncher, SupervisorConfig, TaskRunner, worker_base_env

HOST = "benchhost"

PROFILED_LAUNCHER = """#!/usr/bin/env python3
# disco-python-worker
import cProfile, os
from disco.worker import Worker
_profile = cProfile.Profile()
_send = Worker.send.__func__
def _send_dumping(cls, type, payload=''):
    # the node kills the worker right after DONE: dump the profile before sending it
    if type == 'DONE':
        _profile.disable()
        _profile.dump_stats(os.path.join(os.environ["BENCH_PROFILE_DIR"],
                                         "w-%d.prof" % os.getpid()))
    return _send(cls, type, payload)
Worker.send = classmethod(_send_dumping)
_profile.enable()
Worker.main()
"""


PHASES_LAUNCHER = """#!/usr/bin/env python3
# disco-python-worker
import os, sys, time, json, resource
_cpu = lambda: time.clock_gettime(time.CLOCK_PROCESS_CPUTIME_ID) * 1e3
_faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
_marks = [("launcher", _cpu(), _faults())]
_preloaded = set(sys.modules)
from disco.worker import Worker
import disco.task, disco.worker, disco.worker.classic.worker as cw
def _mark(name):
    _marks.append((name, _cpu(), _faults()))
_send = Worker.send.__func__
def _send_marking(cls, type, payload=''):
    _mark("before " + type)
    if type == 'DONE':
        directory = os.environ["BENCH_PROFILE_DIR"]
        with open(os.path.join(directory, "m-%d.json" % os.getpid()), "w") as f:
            json.dump({"marks": _marks, "parent": os.getppid()}, f)
        with open(os.path.join(directory, "i-%d.json" % os.getpid()),
                  "w") as f:  # modules imported after the fork (not preloaded)
            json.dump(sorted("%s (%s)" % (n, getattr(sys.modules[n], "__file__", "")) for n in set(sys.modules) - _preloaded), f)
    reply = _send(cls, type, payload)
    _mark("after " + type)
    return reply
Worker.send = classmethod(_send_marking)
def _marking(owner, name, wrap=lambda f: f):
    original = getattr(owner, name)
    def marking(*args, **kwargs):
        value = original(*args, **kwargs)
        _mark(name)
        return value
    setattr(owner, name, wrap(marking))
_jobobjs = disco.task.Task.jobobjs.fget
def _jobobjs_marking(self):
    value = _jobobjs(self)
    _mark("jobobjs")
    return value
disco.task.Task.jobobjs = property(_jobobjs_marking)
for _owner, _name in ((disco.worker, "install_channel"), (disco.worker, "set_memory_limit"),
                      (disco.task.Task, "makedirs"), (cw, "job_function_globals"),
                      (cw.Worker, "inject_globals"), (cw.Worker.Prepared, "inject_task")):
    _marking(_owner, _name)
_get_task = Worker.get_task.__func__
Worker.get_task = classmethod(lambda cls: (_get_task(cls), _mark("get_task"))[0])
Worker.main()
"""


#: the real launcher's two lines, measured with as little in the way as possible: one global
#: of `disco.worker.channel` (the frame encoder) replaced, to note the CPU when DONE is encoded
LIGHT_LAUNCHER = """#!/usr/bin/env python3
# disco-python-worker
import os, sys, time, json, resource
_first = (time.clock_gettime(time.CLOCK_PROCESS_CPUTIME_ID) * 1e3,
          resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
from disco.worker import Worker
import disco.worker.channel
_encode = disco.worker.channel.encode
def _encode_marking(name, payload=''):
    if name == 'DONE':
        marks = [("launcher", *_first),
                 ("before DONE", time.clock_gettime(time.CLOCK_PROCESS_CPUTIME_ID) * 1e3,
                  resource.getrusage(resource.RUSAGE_SELF).ru_minflt)]
        with open(os.path.join(os.environ["BENCH_PROFILE_DIR"], "m-%d.json" % os.getpid()),
                  "w") as f:
            json.dump({"marks": marks, "parent": os.getppid()}, f)
    return _encode(name, payload)
disco.worker.channel.encode = _encode_marking
Worker.main()
"""


def trivial_jobpack() -> bytes:
    from bench.workloads import Trivial
    return Trivial(master="http://127.0.0.1:1").make_jobpack(input=["raw://1"]).dumps()


async def serve_pack(pack: bytes) -> tuple[web.AppRunner, str]:
    async def parameters(_request: web.Request) -> web.Response:
        return web.Response(body=pack)
    app = web.Application()
    app.router.add_get("/disco/ctrl/parameters", parameters)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def runner_for(tmp: str, url: str, jobhomes: JobHomes, launcher, task: int, sent: list,
               env: dict) -> TaskRunner:
    job = "Trivial@bench"
    message = {"op": "run_task", "job": job, "task": task, "attempt": 1, "stage": "map",
               "grouping": "split", "group": [0, None], "worker": "disco-worker",
               "jobpack": f"{url}/disco/ctrl/parameters?name={job}",
               "inputs": [[0, "ok", 0, [[0, f"raw://{task}"]]]], "inputs_done": True}
    info = TaskInfo(job=job, task=task, attempt=1, stage="map", grouping="split",
                    group=[0, None], host=HOST, master=url, disco_port=8989, put_port=8990,
                    ddfs_data=os.path.join(tmp, "ddfs"), disco_data=os.path.join(tmp, "data"),
                    jobfile=os.path.join(jobhomes.path(job), "jobfile"))
    return TaskRunner(message, info, jobhomes, launcher, env, SupervisorConfig(), sent.append)


async def measure(count: int, profile_dir: str | None, phases: str = "") -> list[float]:
    launcher = ForkLauncher(ExecLauncher())
    env = worker_base_env()
    if profile_dir:
        env["BENCH_PROFILE_DIR"] = profile_dir
    times = []
    with tempfile.TemporaryDirectory(prefix="disco-taskstart-") as tmp:
        server, url = await serve_pack(trivial_jobpack())
        jobhomes = JobHomes(os.path.join(tmp, "data"), HOST)
        try:
            for i in range(count + 1):
                sent: list = []
                runner = runner_for(tmp, url, jobhomes, launcher, i, sent, env)
                started = time.perf_counter()
                await runner.run()
                elapsed = time.perf_counter() - started
                final = [m for m in sent if m["op"] in ("task_done", "task_failed")]
                assert final and final[0]["op"] == "task_done", sent
                if i == 0 and profile_dir:
                    home = jobhomes.path("Trivial@bench")
                    with open(os.path.join(home, "disco-worker"), "w") as f:
                        f.write({"phases": PHASES_LAUNCHER, "light": LIGHT_LAUNCHER}.get(
                            phases, PROFILED_LAUNCHER))
                if i:  # the first run fetches the job pack and starts the fork server
                    times.append(elapsed)
                if i == 1:
                    zygotes_before = _zygotes_cpu(launcher)
            measure.worker_cpu = _children_cpu(launcher)
            if count > 1:
                measure.zygote_cpu = [(after - before) / (count - 1) for after, before
                                      in zip(_zygotes_cpu(launcher), zygotes_before)]
        finally:
            await jobhomes.close()
            await launcher.close()
            await server.cleanup()
    return times


def _children_cpu(launcher: ForkLauncher) -> float:
    """CPU seconds of the fork server's reaped children (the workers) and the server itself."""
    process = launcher._client._process
    if process is None:
        return 0.0
    with open(f"/proc/{process.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _zygotes_cpu(launcher: ForkLauncher) -> tuple[float, float, int]:
    """CPU seconds of the fork server's children that are still alive (the job's zygote):
    their own, and that of their reaped children (the workers, exit included); and their
    own minor page faults."""
    process = launcher._client._process
    if process is None:
        return 0.0, 0.0, 0
    own = children = 0.0
    faults = 0
    try:
        with open(f"/proc/{process.pid}/task/{process.pid}/children") as f:
            pids = f.read().split()
    except OSError:
        return 0.0, 0.0, 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        own += (int(fields[11]) + int(fields[12])) / tick
        children += (int(fields[13]) + int(fields[14])) / tick
        faults += int(fields[7])
    return own, children, faults


def print_phases(files: list[str]) -> None:
    import json
    runs = []
    for path in files:
        with open(path) as f:
            runs.append(json.load(f)["marks"])
    print("worker CPU ms and minor faults since the fork (median over %d workers):" % len(runs))
    previous = (0.0, 0)
    for index, (name, _cpu, _faults) in enumerate(runs[0]):
        cpu = statistics.median(run[index][1] for run in runs if len(run) > index)
        faults = statistics.median(run[index][2] for run in runs if len(run) > index)
        print(f"  {cpu:7.2f} (+{cpu - previous[0]:5.2f})  {faults:5.0f} (+{faults - previous[1]:4.0f})"
              f"  {name}")
        previous = (cpu, faults)
    imported = glob.glob(os.path.join(os.path.dirname(files[0]), "i-*.json")) if files else []
    if imported:
        with open(imported[0]) as f:
            print("modules imported after the fork:", ", ".join(json.load(f)) or "none")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=30)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--light", action="store_true",
                        help="worker CPU ms (since the fork) at the launcher's first line and "
                             "at DONE only, with the least instrumentation")
    parser.add_argument("--phases", action="store_true",
                        help="worker CPU ms (since the fork) at each protocol message")
    args = parser.parse_args(argv)
    profile_dir = (tempfile.mkdtemp(prefix="disco-taskstart-prof-")
                   if args.profile or args.phases or args.light else None)
    started = time.process_time()
    mode = "phases" if args.phases else "light" if args.light else ""
    times = asyncio.run(measure(args.count, profile_dir, mode))
    print(f"classic trivial task, node TaskRunner + fork server: median "
          f"{statistics.median(times) * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms, "
          f"max {max(times) * 1e3:.1f} ms over {len(times)} tasks "
          f"(CPU: node {time.process_time() - started:.2f} s, fork server + workers "
          f"{measure.worker_cpu:.2f} s)")
    zygote = getattr(measure, "zygote_cpu", None)
    if zygote and zygote[0]:
        print(f"per task after the first two: job zygote {zygote[0] * 1e3:.2f} ms CPU and "
              f"{zygote[2]:.0f} page faults, workers forked by it {zygote[1] * 1e3:.2f} ms CPU "
              f"(exit included)")
    if args.phases or args.light:
        print_phases(glob.glob(os.path.join(profile_dir, "m-*.json")))
    elif profile_dir:
        files = glob.glob(os.path.join(profile_dir, "*.prof"))
        stats = pstats.Stats(*files, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(35)


if __name__ == "__main__":
    main()
