"""Temp GC on the nodes (Disco's temp_gc, DISCO.md §6): every DATA_GC_INTERVAL hours each node
deletes `DISCO_DATA/<host>/<hh>/<job>` of jobs that are not active when the job was purged or
the directory is older than DISCO_GC_AFTER seconds, together with the OOB tag
`disco:job:oob:<job>`. Real processes (LocalCluster); the interval is shrunk to about a second.
"""
from __future__ import annotations

import io
import json
import os
import time

import pytest

from disco.core import Disco, result_iterator
from disco.ddfs import DDFS
from disco.job import Job
from disco.settings import DiscoSettings
from disco.testing import poll_for
from disco.testing.cluster import http_get
from disco.urls import hexhash

pytestmark = pytest.mark.timeout(180)

#: hours between passes (about 1.1 s)
INTERVAL = 0.0003
HOSTS = ("127.0.0.2", "127.0.0.3")


def map_line(line, params):
    """A map that may sleep first (to keep its job active)."""
    import time
    time.sleep(params.get("sleep", 0))
    yield line, 1


def run_job(local, inputs: int, sleep: float = 0.0) -> Job:
    return Job(master=local.master_url, settings=local.settings).run(
        input=[f"raw://line{i}" for i in range(inputs)], map=map_line, params={"sleep": sleep})


def job_dir(local, host: str, name: str) -> str:
    return os.path.join(local.root, "data", host, hexhash(name), name)


def hosts_holding(local, name: str) -> list[str]:
    return [h for h in local.hosts if os.path.isdir(job_dir(local, h, name))]


def ddfs_of(local) -> DDFS:
    return DDFS(settings=DiscoSettings(**local.env))


def put_oob(local, name: str) -> str:
    """Store one OOB value for job `name`; returns the OOB tag."""
    tag = DDFS.job_oob(name)
    ddfs_of(local).push(tag, [(io.BytesIO(b"value"), "key")], delayed=True)
    assert ddfs_of(local).exists(tag)
    return tag


def passes(local, host: str) -> int:
    """Temp GC passes completed on `host` so far (from its log)."""
    path = os.path.join(local.log_dir, f"node-{host}.log")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return sum(f"temp GC: one pass completed on {host}" in line for line in f)
    except FileNotFoundError:
        return 0


def test_unpurged_job_data_is_kept_until_disco_gc_after_and_active_jobs_never(cluster):
    local = cluster(hosts=HOSTS[:1], workers=2,
                    settings={"DATA_GC_INTERVAL": INTERVAL, "DISCO_GC_AFTER": 5,
                              "DISCO_TEMP_GC_PAUSE": 0})
    host = HOSTS[0]
    slow = Job(master=local.master_url, settings=local.settings).run(
        input=["raw://slow"], map=map_line, params={"sleep": 10})
    quick = run_job(local, 2)
    quick.wait(timeout=60)
    assert hosts_holding(local, quick.name) == [host]
    oob = put_oob(local, quick.name)
    poll_for(lambda: not hosts_holding(local, quick.name), 40,
             message="the old job's data was not collected")
    poll_for(lambda: not ddfs_of(local).exists(oob), 20, message="OOB tag left")
    status, _ = local.disco.results(slow.name)
    assert status == "active" and hosts_holding(local, slow.name) == [host]
    results = slow.wait(timeout=60)                  # its data was never touched
    assert list(result_iterator(results, ddfs=local.master_url)) == [("slow", 1)]


@pytest.mark.process
def test_purged_job_data_is_collected_by_a_node_that_missed_the_purge(cluster):
    local = cluster(hosts=HOSTS, workers=1,
                    settings={"DATA_GC_INTERVAL": INTERVAL, "DISCO_TEMP_GC_PAUSE": 0,
                              "DISCO_NODE_RESTART_DELAY": 1})
    keep, gone = run_job(local, 6), run_job(local, 6)
    keep.wait(timeout=60)
    gone.wait(timeout=60)
    kept_on = hosts_holding(local, keep.name)
    holders = hosts_holding(local, gone.name)
    assert kept_on and holders, (kept_on, holders)
    victim = holders[0]
    oob = put_oob(local, gone.name)
    local.kill_node(victim)
    local.wait_for_disconnect(victim)
    Disco(master=local.master_url, settings=local.settings).purge(gone.name)
    jobs = json.loads(http_get(f"{local.master_url}/internal/node/jobs"))
    assert jobs == {"active": [], "purged": [gone.name]}
    assert os.path.isdir(job_dir(local, victim, gone.name))   # the dead node kept it
    local.wait_for_nodes([victim], timeout=60)                # restarted by the master
    poll_for(lambda: not hosts_holding(local, gone.name), 40,
             message=lambda: f"purged job data left on {hosts_holding(local, gone.name)}")
    poll_for(lambda: not ddfs_of(local).exists(oob), 20, message="OOB tag left")
    # DISCO_GC_AFTER defaults to 100 years: the other job's data stays, pass after pass
    seen = passes(local, victim)
    poll_for(lambda: passes(local, victim) >= seen + 2, 30, message="no further GC passes")
    assert hosts_holding(local, keep.name) == kept_on
    assert time.time() - os.stat(job_dir(local, kept_on[0], keep.name)).st_mtime > 1
