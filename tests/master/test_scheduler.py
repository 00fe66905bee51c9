"""Pure tests of the scheduler: slots, locality, max_cores, force_local/remote, fair vs fifo."""
from __future__ import annotations

import time

import pytest

from disco.master.scheduler import Scheduler

pytestmark = pytest.mark.timeout(10)


def test_locality_first_then_remote():
    s = Scheduler()
    s.set_hosts({"h1": 1, "h2": 1})
    s.add_job("J")
    s.enqueue("J", 0, ("h2",))
    s.enqueue("J", 1, ("h1",))
    s.enqueue("J", 2, ())
    assert sorted(s.schedule()) == [("J", 0, "h2"), ("J", 1, "h1")]
    s.release("J", "h1")
    assert s.schedule() == [("J", 2, "h1")]


def test_max_cores_caps_running():
    s = Scheduler()
    s.set_hosts({"h1": 4})
    s.add_job("J", max_cores=2)
    for t in range(5):
        s.enqueue("J", t)
    assert len(s.schedule()) == 2
    s.release("J", "h1")
    assert s.schedule() == [("J", 2, "h1")]


def test_force_local_and_force_remote():
    s = Scheduler()
    s.set_hosts({"h1": 2, "h2": 2})
    s.add_job("L", force_local=True)
    s.enqueue("L", 0, ("h1",))
    s.enqueue("L", 1, ("h1",))
    s.enqueue("L", 2, ("h1",))
    assert s.schedule() == [("L", 0, "h1"), ("L", 1, "h1")]  # h2 idle: never runs them
    s2 = Scheduler()
    s2.set_hosts({"h1": 1, "h2": 1})
    s2.add_job("R", force_remote=True)
    s2.enqueue("R", 0, ("h1",))
    assert s2.schedule() == [("R", 0, "h2")]


def test_avoid_failed_hosts():
    s = Scheduler()
    s.set_hosts({"h1": 1, "h2": 1})
    s.add_job("J")
    s.enqueue("J", 0, ("h1",), frozenset({"h1"}))
    assert s.schedule() == [("J", 0, "h2")]


def test_fair_shares_slots_fifo_does_not():
    for policy, expected in (("fair", {"A": 2, "B": 2}), ("fifo", {"A": 4})):
        s = Scheduler(policy)
        s.set_hosts({"h1": 4})
        s.add_job("A")
        s.add_job("B")
        for t in range(10):
            s.enqueue("A", t)
            s.enqueue("B", t)
        counts: dict[str, int] = {}
        for job, _task, _host in s.schedule():
            counts[job] = counts.get(job, 0) + 1
        assert counts == expected, policy


def test_gate_and_dequeue():
    s = Scheduler()
    s.set_hosts({"h1": 2})
    s.add_job("J")
    s.enqueue("J", 0)
    s.enqueue("J", 1)
    s.dequeue("J", 0)
    assert s.schedule(gate=lambda job, task: task != 1) == []
    assert s.schedule() == [("J", 1, "h1")]


def test_cost_does_not_grow_with_queue():
    s = Scheduler()
    s.set_hosts({f"h{i}": 4 for i in range(10)})
    s.add_job("J")
    for t in range(10_000):
        s.enqueue("J", t, (f"h{t % 10}",))
    start = time.perf_counter()
    done = 0
    while done < 10_000:
        batch = s.schedule()
        done += len(batch)
        for job, _task, host in batch:
            s.release(job, host)
    assert time.perf_counter() - start < 2.0  # >5000 assignments/s


def test_fair_share_favours_a_job_starved_in_the_past():
    s = Scheduler("fair", alpha=0.5)
    s.set_hosts({"h1": 2})
    s.add_job("A")
    s.add_job("B")
    for t in range(4):
        s.enqueue("A", t)
    s.update_shares(0.0)
    assert [job for job, _t, _h in s.schedule()] == ["A", "A"]   # B has no work yet
    for t in range(4):
        s.enqueue("B", t)
    s.update_shares(10.0)   # for 10 s A ran 2 tasks while its share was 1: B fell behind
    assert s.priority("B") > s.priority("A")
    s.release("A", "h1")
    s.release("A", "h1")
    # equal current deficits, but B's history gives it both free slots
    assert [job for job, _t, _h in s.schedule()] == ["B", "B"]


def test_fair_share_with_zero_alpha_splits_evenly_and_alpha_is_checked():
    s = Scheduler("fair", alpha=0.0)
    s.set_hosts({"h1": 3})
    for name in ("A", "B", "C"):
        s.add_job(name)
        for t in range(3):
            s.enqueue(name, t)
    s.update_shares(0.0)
    s.update_shares(100.0)
    assert sorted(job for job, _t, _h in s.schedule()) == ["A", "B", "C"]
    with pytest.raises(ValueError):
        Scheduler("fair", alpha=2.0)
