"""Losing a node re-runs only what it must (Spark's lineage rule), with real processes.

Map (and shuffle) outputs are on every node; reduce partition 0 finishes at once, partitions 1 and
2 take a while. A node that holds map outputs but did not run reduce 0 is killed with SIGKILL while
the slow reduces run. The map and shuffle tasks it ran re-run (their outputs are lost and the
unfinished reduces need them); reduce 0, whose output lives on another node, and the maps of the
surviving nodes are kept: each of them ran once.
"""
from __future__ import annotations

import os
import signal

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


def lettered_map(line, params):
    for word in line.split():
        yield word, 1


def by_prefix(key, partitions, params):
    """Words are ``p<partition><letter>``: the partition is in the word."""
    text = key.decode() if isinstance(key, bytes) else key
    return int(text[1]) % partitions


def slow_reduce(iter, params):
    import os
    import time

    from disco.util import kvgroup
    pairs = sorted(iter)
    first = pairs[0][0] if pairs else ""
    if not (first.decode() if isinstance(first, bytes) else first).startswith("p0"):
        open(os.path.join(params["started"], str(os.getpid())), "w").close()
        time.sleep(params["sleep"])
    for word, counts in kvgroup(pairs):
        yield word, sum(counts)


def test_node_loss_reruns_only_lost_and_needed_tasks(cluster, tmp_path):
    local = cluster(hosts=HOSTS, workers=2, settings=SETTINGS)
    started = tmp_path / "started"
    started.mkdir()
    inputs = [f"raw://p0{c} p1{c} p2{c}" for c in "abcdef"]
    expected = {f"p{p}{c}": 1 for p in range(3) for c in "abcdef"}
    job = Job(master=local.master_url, settings=local.settings).run(
        input=inputs, map=lettered_map, reduce=slow_reduce, partition=by_prefix, partitions=3,
        params={"started": str(started), "sleep": 4.0})

    def reduce_state():
        tasks = [t for t in job_tasks(local.master_url, job.name) if t["stage"] == "reduce"]
        done = [t for t in tasks if t["status"] == "done"]
        return (done, tasks) if done and len(os.listdir(started)) >= 2 else None

    done, _ = poll_for(reduce_state, 60, message="reduce 0 did not finish first")
    before = {t["task"]: t for t in job_tasks(local.master_url, job.name)}
    (fast,) = done
    map_hosts = {t["host"] for t in before.values() if t["stage"] == "map"}
    victims = sorted(map_hosts - {fast["host"]})
    assert victims, before
    victim = victims[0]
    # the victim's map and shuffle outputs are lost; the slow reduces still need them
    lost_maps = sorted(t["task"] for t in before.values()
                       if t["stage"] in ("map", "map_shuffle") and t["host"] == victim)
    local.kill_node(victim, signal.SIGKILL)
    assert result_counts(local.master_url, job.wait(timeout=90)) == expected
    after = {t["task"]: t for t in job_tasks(local.master_url, job.name)}
    assert after[fast["task"]]["attempts"] == 1 and after[fast["task"]]["status"] == "done"
    assert sorted(t["task"] for t in after.values() if t["stage"] == "reduce") == sorted(
        t["task"] for t in before.values() if t["stage"] == "reduce")   # nothing re-planned
    for task in after.values():
        if task["stage"] in ("map", "map_shuffle"):
            assert task["attempts"] == (2 if task["task"] in lost_maps else 1), (task, victim)
    lines = job_events(local, job.name)
    assert any(f"re-running {len(lost_maps)} task(s) whose outputs were lost" in line
               for line in lines), "\n".join(lines)
