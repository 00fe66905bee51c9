"""The master killed with SIGKILL mid-job: jobs go on from the tasks that finished.

Real processes (a master, three nodes on 127.0.0.2-4). The hard case is a task that finished
just before the kill: its node sent ``task_done``, the master never stored it. To make that
moment certain rather than lucky, the master is frozen (SIGSTOP) while the map tasks are held
by a gate file; the gate opens, the nodes report into the frozen master's socket, and the
master is then killed. The node keeps every report until the master acknowledges it as
stored (``stored``) and sends it again to the new master, so no map task runs twice.
"""
from __future__ import annotations

import os
import signal
import time
import urllib.request

import pytest

from disco.job import Job
from disco.testing import poll_for
from disco.testing.inspect import job_events, job_tasks, result_counts

pytestmark = [pytest.mark.timeout(150), pytest.mark.process]

HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
#: retries and node timeouts shrunk so that each fault costs seconds
SETTINGS = {"DISCO_RETRY_SLEEP_UNIT": 0.05, "DISCO_RETRY_SLEEP_MAX": 0.2,
            "DISCO_RETRY_SLEEP_RANDOM": 0, "DISCO_NODE_RESTART_DELAY": 0.5,
            "DISCO_NODE_TIMEOUT": 5, "DISCO_NODE_HEARTBEAT": 0.5}


def gated_map(line, params):
    """Word count map that records each run and waits for the test's gate file."""
    import os
    import time
    name = line.decode() if isinstance(line, bytes) else line
    open(os.path.join(params["started"], f"{name}-{os.getpid()}"), "w").close()
    deadline = time.time() + 60
    while not os.path.exists(params["gate"]) and time.time() < deadline:
        time.sleep(0.02)
    for word in name.split():
        yield word, 1


def reduce_sum(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def node_tasks_done(local) -> int:
    """Sum of the nodes' ``disco_node_tasks_done_total`` (reports sent to the master)."""
    total = 0
    for host in local.hosts:
        url = f"http://{host}:{local.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith("disco_node_tasks_done_total"):
                    total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_tasks_done_just_before_a_master_kill_do_not_run_again(cluster, tmp_path):
    local = cluster(hosts=HOSTS, workers=2, settings=SETTINGS)
    started, gate = tmp_path / "started", tmp_path / "gate"
    started.mkdir()
    inputs = ["raw://apple banana", "raw://banana cherry", "raw://cherry date"]
    job = Job(master=local.master_url, settings=local.settings).run(
        input=inputs, map=gated_map, reduce=reduce_sum, partitions=2,
        params={"started": str(started), "gate": str(gate)})
    poll_for(lambda: len(os.listdir(started)) == 3, 60, message="map tasks did not start")
    os.kill(local.process.pid, signal.SIGSTOP)
    try:
        gate.touch()
        # every map task reported done into the frozen master's socket
        poll_for(lambda: node_tasks_done(local) == 3, 30, message="maps did not finish")
        time.sleep(0.3)
    finally:
        local.restart_master()   # SIGKILL (a stopped process dies as well) and start again
    assert result_counts(local.master_url, job.wait(timeout=90)) == {
        "apple": 1, "banana": 2, "cherry": 2, "date": 1}
    runs = sorted(os.listdir(started))
    assert len(runs) == 3, f"map tasks ran again after the restart: {runs}"
    maps = [t for t in job_tasks(local.master_url, job.name) if t["stage"] == "map"]
    assert [t["attempts"] for t in maps] == [1, 1, 1], maps
    lines = job_events(local, job.name)
    assert sum("finished before the master restarted" in line for line in lines) == 3, lines


def concurrent_pipeline(runs: str, gate: str) -> list:
    """map -> a concurrent count stage (label 1 held by the gate) -> a final group_all."""
    from disco.worker.pipeline.worker import Stage

    def split(interface, state, label, inp):
        for line in inp:
            for word in (line.decode() if isinstance(line, bytes) else line).split():
                interface.output(int(word[1])).add(word, 1)

    def count(interface, state, label, inp):
        import os
        import time
        open(os.path.join(runs, f"count{label}-{os.getpid()}-{time.time_ns()}"), "w").close()
        if label == 1:
            deadline = time.time() + 60
            while not os.path.exists(gate) and time.time() < deadline:
                time.sleep(0.02)
        counts: dict = {}
        for word, n in inp:
            counts[word] = counts.get(word, 0) + n
        for word in sorted(counts):
            interface.output(0).add(word, counts[word])

    def final(interface, state, label, inp):
        for word, n in inp:
            interface.output(0).add(word, n)

    return [("split", Stage("map", process=split)),
            ("group_label", Stage("count", process=count), True),
            ("group_all", Stage("final", process=final))]


def test_a_concurrent_stages_done_tasks_do_not_run_again_after_a_master_kill(cluster, tmp_path):
    from disco.worker.pipeline.worker import Worker as PipelineWorker
    local = cluster(hosts=HOSTS, workers=2, settings=SETTINGS)
    runs, gate = tmp_path / "runs", tmp_path / "gate"
    runs.mkdir()
    job = Job(master=local.master_url, settings=local.settings,
              worker=PipelineWorker()).run(
        input=["raw://l0a l1a", "raw://l0b l1b l1c"],
        pipeline=concurrent_pipeline(str(runs), str(gate)))

    def label_0_done():
        tasks = [t for t in job_tasks(local.master_url, job.name) if t["stage"] == "count"]
        done = [t for t in tasks if t["status"] == "done"]
        return done if done and any(f.startswith("count1") for f in os.listdir(runs)) else None

    (done,) = poll_for(label_0_done, 60, message="the concurrent stage's label 0 did not finish")
    assert done["group"][0] == 0
    time.sleep(0.3)   # its row reaches the store (batches every 0.1 s)
    local.restart_master()
    gate.touch()
    results = job.wait(timeout=90)
    found: dict = {}
    from disco.core import result_iterator
    for word, n in result_iterator(results, ddfs=local.master_url):
        found[word] = found.get(word, 0) + n
    assert found == {"l0a": 1, "l0b": 1, "l1a": 1, "l1b": 1, "l1c": 1}
    # (process runs once per input: one task run is one worker pid)
    runs_of_0 = {f.split("-")[1] for f in os.listdir(runs) if f.startswith("count0")}
    assert len(runs_of_0) == 1, os.listdir(runs)
    tasks = {t["task"]: t for t in job_tasks(local.master_url, job.name)}
    assert tasks[done["task"]]["status"] == "done" and tasks[done["task"]]["attempts"] == 1
