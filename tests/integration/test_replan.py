"""Losing a node re-runs only what it must (Spark's lineage rule), with real processes.

Map (and shuffle) outputs are on every node; reduce partition 0 finishes at once, partitions 1 and 2 take
a while. A node that holds map outputs but did not run reduce 0 is killed with SIGKILL while
the slow reduces run. The map and shuffle tasks it ran re-run (their outputs are lost and the unfinished
reduces need them); reduce 0, whose output lives on another node, and the maps of the
surviving nodes are kept: each of them ran once.
"""
from __future__ import annotations

import os
import signal

import pytest

from disco.job import Job
from disco.testing import poll_for
from tests.integration.test_faults import HOSTS, SETTINGS, counts, events, jobtasks

pytestmark = pytest.mark.timeout(150)


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
    if pairs and not pairs[0][0].startswith(b"p0"):
        open(os.path.join(params["started"], str(os.getpid())), "w").close()
        time.sleep(params["sleep"])
    for word, counts in kvgroup(pairs):
        yield word, sum(counts)


def test_node_loss_reruns_only_lost_and_needed_tasks(cluster, tmp_path):
    local = cluster(hosts=HOSTS, workers=2, settings=SETTINGS)
    started = tmp_path / "started"
    started.mkdir()
    inputs = [f"raw://p0{c} p1{c} p2{c}" for c in "abcdef"]
    expected = {f"p{p}{c}".encode(): 1 for p in range(3) for c in "abcdef"}
    job = Job(master=local.master_url, settings=local.settings).run(
        input=inputs, map=lettered_map, reduce=slow_reduce, partition=by_prefix, partitions=3,
        params={"started": str(started), "sleep": 4.0})

    def reduce_state():
        tasks = [t for t in jobtasks(local, job.name) if t["stage"] == "reduce"]
        done = [t for t in tasks if t["status"] == "done"]
        return (done, tasks) if done and len(os.listdir(started)) >= 2 else None

    done, _ = poll_for(reduce_state, 60, message="reduce 0 did not finish first")
    before = {t["task"]: t for t in jobtasks(local, job.name)}
    (fast,) = done
    map_hosts = {t["host"] for t in before.values() if t["stage"] == "map"}
    victims = sorted(map_hosts - {fast["host"]})
    assert victims, before
    victim = victims[0]
    # the victim's map and shuffle outputs are lost; the slow reduces still need them
    lost_maps = sorted(t["task"] for t in before.values()
                       if t["stage"] in ("map", "map_shuffle") and t["host"] == victim)
    local.kill_node(victim, signal.SIGKILL)
    assert counts(local, job.wait(timeout=90)) == expected
    after = {t["task"]: t for t in jobtasks(local, job.name)}
    assert after[fast["task"]]["attempts"] == 1 and after[fast["task"]]["status"] == "done"
    assert sorted(t["task"] for t in after.values() if t["stage"] == "reduce") == sorted(
        t["task"] for t in before.values() if t["stage"] == "reduce")   # nothing re-planned
    for task in after.values():
        if task["stage"] in ("map", "map_shuffle"):
            assert task["attempts"] == (2 if task["task"] in lost_maps else 1), (task, victim)
    lines = events(local, job.name)
    assert any(f"re-running {len(lost_maps)} task(s) whose outputs were lost" in line
               for line in lines), "\n".join(lines)
