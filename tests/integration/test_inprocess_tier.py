"""The in-process tier (disco/testing/inprocess.py): a real master and nodes on one event loop
of the test process, and the invariant check that runs after each test on it."""
from __future__ import annotations

import pytest

import os

from disco.core import Job, result_iterator
from disco.testing import ClusterError, poll_for
from disco.testing.inprocess import InProcessCluster
from tests.worker_protocol import jobpack_for

pytestmark = pytest.mark.timeout(120)


def count_words(line, params):
    for word in line.split():
        yield word, 1


@pytest.fixture
def local(tmp_path, monkeypatch):
    cluster = InProcessCluster(tmp_path / "cluster").start(timeout=60)
    for key, value in cluster.env.items():
        monkeypatch.setenv(key, value)
    yield cluster
    cluster.stop()


def test_a_job_runs_on_nodes_in_this_process_and_the_invariants_hold(local):
    assert local.connected_hosts() == set(local.hosts)
    job = Job(master=local.master_url, settings=local.settings).run(
        input=["raw://a b a", "raw://c a"], map=count_words)
    words = sorted(word for word, _count in result_iterator(job.wait(timeout=60)))
    assert words == ["a", "a", "a", "b", "c"]
    local.check_invariants()


def test_the_invariant_check_sees_a_slot_count_that_differs(local):
    master = local._app["master"]
    local.call(_occupy_a_slot(master, "127.0.0.2"))
    with pytest.raises(ClusterError, match="scheduler slots"):
        local.check_invariants(settle=0.2)
    local.call(_free_the_slot(master, "127.0.0.2"))
    local.check_invariants()


def test_process_kills_belong_to_the_process_tier(local):
    with pytest.raises(ClusterError, match="use LocalCluster"):
        local.kill_node("127.0.0.2")


LEAKY_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "leaky_worker.py")


def test_the_leak_check_sees_what_an_execd_worker_left_behind(tmp_path):
    """An exec'd worker is a child of this process, below no fork server: the cluster still
    knows its pid (it watches the nodes' launchers), so its escaped child is a leak."""
    local = InProcessCluster(tmp_path / "cluster", hosts=("127.0.0.2",), workers=1).start()
    try:
        name = local.disco.submit(jobpack_for(LEAKY_WORKER, "Leaky", [["map", "split"]],
                                              ["raw://a"]))
        poll_for(lambda: any("child started" in str(event)
                             for _offset, event in local.disco.events(name)), 30,
                 message="the leaky worker did not start its child")
    except BaseException:
        local.stop(check_leaks=False)
        raise
    with pytest.raises(ClusterError, match="outlived the cluster"):
        local.stop(timeout=1)  # the escaped child lives 120 s: no need to wait the default 10 s


def _occupy_a_slot(master, host):
    async def occupy():
        master.scheduler.busy[host] = master.scheduler.busy.get(host, 0) + 1
    return occupy


def _free_the_slot(master, host):
    async def free():
        master.scheduler.busy[host] -= 1
    return free
