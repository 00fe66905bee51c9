"""Disco's node monitor and config-table changes, with real processes (DISCO.md §6).

* A node process killed with SIGKILL is restarted by the master (after
  DISCO_NODE_RESTART_DELAY), reconnects, and takes tasks of the next job.
* A host removed from the config table while a job runs loses its work at once (its node
  process is stopped, its tasks run elsewhere) and the job still finishes with the right
  results.
"""
from __future__ import annotations

import json
import signal

import pytest

from disco.core import Disco, result_iterator
from disco.job import Job
from disco.sysutil import pid_alive
from disco.testing import poll_for
from disco.testing.cluster import http_get

pytestmark = pytest.mark.timeout(150)

HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
SETTINGS = {"DISCO_RETRY_SLEEP_UNIT": 0.05, "DISCO_RETRY_SLEEP_MAX": 0.2,
            "DISCO_RETRY_SLEEP_RANDOM": 0, "DISCO_NODE_RESTART_DELAY": 0.5,
            "DISCO_NODE_TIMEOUT": 5, "DISCO_NODE_HEARTBEAT": 0.5}
JOB_TIMEOUT = 90


def sleepy_map(line, params):
    """Word count map that sleeps `params['sleep']` seconds per input."""
    import time
    time.sleep(params["sleep"])
    for word in line.split():
        yield word, 1


def sum_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def run_job(local, count: int, sleep: float) -> tuple[Job, dict]:
    """A word count over `count` raw inputs; returns the job and the expected counts."""
    inputs = [f"raw://w{i % 4} common" for i in range(count)]
    expected: dict = {"common": count}
    for i in range(count):
        expected[f"w{i % 4}"] = expected.get(f"w{i % 4}", 0) + 1
    job = Job(master=local.master_url, settings=local.settings).run(
        input=inputs, map=sleepy_map, reduce=sum_reduce, partitions=2,
        params={"sleep": sleep})
    return job, expected


def counts(local, results) -> dict:
    found: dict = {}
    for word, count in result_iterator(results, ddfs=local.master_url):
        found[word] = found.get(word, 0) + count
    return found


def event_lines(local, name: str) -> list[str]:
    raw = Disco(master=local.master_url, settings=local.settings).rawevents(name)
    return [f"{host}: {message}" for _ts, host, message in
            (json.loads(line) for line in raw.decode().splitlines() if line.strip())]


def assigned_to(lines: list[str], host: str) -> list[str]:
    return [line for line in lines if line.endswith(f"assigned to {host}")]


def running_hosts(local, name: str) -> set[str]:
    try:
        return set(json.loads(http_get(f"{local.master_url}/disco/ctrl/jobinfo?name={name}"))
                   ["hosts"])
    except OSError:
        return set()


@pytest.mark.process
def test_compat_killed_node_is_restarted_and_takes_tasks(cluster):
    local = cluster(hosts=HOSTS, workers=2, settings=SETTINGS)
    victim = HOSTS[1]
    old_pid = local.kill_node(victim, signal.SIGKILL)
    local.wait_for_disconnect(victim, 20)
    new_pid = poll_for(lambda: local.node_pid(victim) not in (None, old_pid)
                       and local.node_pid(victim), 30,
                       message=f"node {victim} was not restarted")
    assert new_pid != old_pid
    local.wait_for_nodes(HOSTS, 30)
    local.remember_tree()
    job, expected = run_job(local, 12, 0.5)
    assert counts(local, job.wait(timeout=JOB_TIMEOUT)) == expected
    assert assigned_to(event_lines(local, job.name), victim), "the restarted node took no task"


def test_compat_host_removed_from_config_loses_work_and_job_finishes(cluster):
    local = cluster(hosts=HOSTS, workers=2, settings=SETTINGS)
    job, expected = run_job(local, 18, 1.0)
    victim = min(poll_for(lambda: running_hosts(local, job.name) or None, 30))
    local.remember_tree()
    local.save_config([[host, "2"] for host in HOSTS if host != victim])
    # the host loses its work at once: its node goes away and it leaves the node list
    poll_for(lambda: victim not in local.nodeinfo(), 10,
             message=f"{victim} still in nodeinfo after removal")
    poll_for(lambda: local.node_pid(victim) is None or not pid_alive(local.node_pid(victim)), 15,
             message=f"node process of {victim} still running")
    before = len(event_lines(local, job.name))
    assert counts(local, job.wait(timeout=JOB_TIMEOUT)) == expected
    later = event_lines(local, job.name)[before:]
    assert not assigned_to(later, victim), later
    assert victim not in [host for host, _n in Disco(master=local.master_url).config]
