"""Speculative execution with real processes: a straggling node does not hold a job back.

A node is frozen with SIGSTOP (the node process and its workers) while its map tasks run.
The node timeout is long (60 s), so only speculation can finish the job early: once most
map tasks are done, the frozen node's tasks get a second attempt elsewhere, the first to
finish wins, and the result holds every record exactly once. After SIGCONT the node gets
the kill for its losing attempts.
"""
from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest

from disco.job import Job
from disco.testing import poll_for
from disco.testing.inspect import job_events, job_tasks, result_counts
from disco.testing.cluster import descendants

pytestmark = [pytest.mark.timeout(180), pytest.mark.process]

HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
SETTINGS = {"DISCO_NODE_TIMEOUT": 60, "DISCO_NODE_HEARTBEAT": 0.5,
            "DISCO_SPECULATIVE": 1, "DISCO_SPECULATIVE_QUANTILE": 0.5,
            "DISCO_SPECULATIVE_MULTIPLIER": 1.5, "DISCO_SPECULATIVE_MIN_RUNTIME": 1}


def slow_map(line, params):
    import os
    import time
    open(os.path.join(params["started"], f"{os.getpid()}"), "w").close()
    time.sleep(params["sleep"])
    for word in line.split():
        yield word, 1


def sum_counts(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def run(local, started, inputs):
    return Job(master=local.master_url, settings=local.settings).run(
        input=inputs, map=slow_map, reduce=sum_counts, partitions=2,
        params={"started": str(started), "sleep": 1.0})


def test_a_straggler_gets_a_speculative_copy_and_the_job_finishes_on_time(cluster, tmp_path):
    local = cluster(hosts=HOSTS, workers=2, settings=SETTINGS)
    inputs = [f"raw://w{i} common" for i in range(6)]
    expected = {f"w{i}": 1 for i in range(6)} | {"common": 6}
    baseline_dir = tmp_path / "baseline"
    baseline_dir.mkdir()
    begin = time.monotonic()
    job = run(local, baseline_dir, inputs)
    assert result_counts(local.master_url, job.wait(timeout=60)) == expected
    baseline = time.monotonic() - begin

    started = tmp_path / "started"
    started.mkdir()
    begin = time.monotonic()
    job = run(local, started, inputs)
    poll_for(lambda: len(os.listdir(started)) >= 6, 30, message="map tasks did not start")
    running = [t for t in job_tasks(local.master_url, job.name) if t["status"] == "running"]
    victim = running[0]["host"]
    frozen = descendants([local.node_pid(victim)])
    local.remember_tree()
    signal_all(frozen, signal.SIGSTOP)
    try:
        results = job.wait(timeout=50)
        took = time.monotonic() - begin
    finally:
        signal_all(frozen, signal.SIGCONT)
    assert result_counts(local.master_url, results) == expected  # every record once: no duplicate
    assert took < baseline + 10, (took, baseline)      # not the 60 s node timeout
    lines = job_events(local, job.name)
    copies = [line for line in lines if "starting a speculative attempt" in line]
    assert copies and all(victim in line for line in copies), lines
    assert any("killed attempt" in line and victim in line for line in lines), lines
    # the losing attempts are killed on the frozen node once it runs again
    poll_for(lambda: not [p for p in descendants([local.node_pid(victim)])
                          if p != local.node_pid(victim) and _is_worker(p)], 30,
             message="the losing attempts still run on the straggler")


def signal_all(pids, sig) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _is_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"disco-worker" in f.read()
    except OSError:
        return False
