"""Pure tests of the job coordinator: feed events with an explicit `now`, assert exact actions."""
from __future__ import annotations

import random

import pytest

from disco.master import actions as A
from disco.master.grouping import (
    DataOutput,
    DirOutput,
    OutputRef,
    group_outputs,
    input_record,
    output_from_input,
)
from disco.master.jobs import JobCoordinator, JobOptions, RetryPolicy, format_duration

pytestmark = pytest.mark.timeout(10)


def make_job(pipeline, inputs, hosts=("h1", "h2"), **retry):
    inputs = [output_from_input(0, 10, urls) for urls in inputs]
    return JobCoordinator("J@1:2:3", pipeline, inputs, JobOptions("w", "http://m/p"),
                          RetryPolicy(**retry) if retry else RetryPolicy(randomize=0),
                          random.Random(1), set(hosts))


def of(acts, kind):
    return [a for a in acts if isinstance(a, kind)]


def dir_result(host, name, labels):
    return [f"dir://{host}/disco/{host}/aa/J/.disco/{name}.results", labels]


def test_split_then_group_all_runs_to_ready():
    job = make_job([("map", "split", False), ("reduce", "group_all", False)],
                   [["disco://h1/a"], ["disco://h2/b"]])
    acts = job.start(0.0)
    assert of(acts, A.Event)[-1] == A.Event("master", "Stage map scheduled with 2 tasks")
    assert of(acts, A.Enqueue) == [A.Enqueue(0, ("h1",)), A.Enqueue(1, ("h2",))]
    run = job.assign(0, "h1", 1.0)
    msg = of(run, A.RunTask)[0].message
    assert msg["inputs"] == [[0, "ok", 0, [[0, "disco://h1/a"]]]] and msg["inputs_done"]
    assert msg["group"] == [0, "h1"] and msg["attempt"] == 1
    job.assign(1, "h2", 1.0)
    done = job.task_done(0, 1, "h1", [dir_result("h1", "m0", [[0, 5], [1, 3]])], 2.0)
    assert A.Release(0, "h1") in done and not of(done, A.StageDone)
    done = job.task_done(1, 1, "h2", [dir_result("h2", "m1", [[1, 4]])], 3.0)
    assert of(done, A.StageDone)[0].stage == "map"
    assert of(done, A.Event)[-1].message == "Stage reduce scheduled with 1 tasks"
    reduce_id = of(done, A.Enqueue)[0].task
    run = of(job.assign(reduce_id, "h1", 4.0), A.RunTask)[0]
    assert [r[2] for r in run.message["inputs"]] == ["all", "all"]
    final = job.task_done(reduce_id, 1, "h1", [["disco://h1/out", [[0, 9]]]], 5.0)
    assert final[-1] == A.JobFinished("ready", results=[["disco://h1/out#0"]])
    assert final[-2].message == "READY: Job done in 0:00:05.000"
    assert job.status == "ready"


def test_groupings_shapes():
    rng = random.Random(0)
    refs = [OutputRef(0, 0, DirOutput("h1", "dir://h1/x", ((0, 1), (2, 1)))),
            OutputRef(1, 0, DirOutput("h2", "dir://h2/y", ((2, 1),))),
            OutputRef(2, 0, DataOutput(1, 5, (("disco://h2/d", "h2"),)))]
    assert [g for g, _ in group_outputs("group_label", refs, rng)] == [(0, None), (1, None),
                                                                       (2, None)]
    assert [g for g, _ in group_outputs("group_node", refs, rng)] == [(0, "h1"), (0, "h2")]
    assert [g for g, _ in group_outputs("group_node_label", refs, rng)] == [
        (0, "h1"), (1, "h2"), (2, "h1"), (2, "h2")]
    assert [g for g, _ in group_outputs("split", refs, rng)] == [(0, "h1"), (2, "h1"),
                                                                 (2, "h2"), (1, "h2")]
    (group, members), = group_outputs("group_all", refs, rng)
    assert group == (0, None) and len(members) == 3
    assert group_outputs("group_all", [], rng) == []
    assert input_record(3, refs[0], "group_label", (2, None)) == [3, "ok", 2,
                                                                 [[0, "dir://h1/x"]]]
    assert input_record(3, refs[0], "group_label", (1, None)) is None


def test_empty_stage_finishes_at_once():
    job = make_job([("map", "split", False), ("reduce", "group_label", False)], [["raw://x"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    acts = job.task_done(0, 1, "h1", [], 1.0)
    assert [a.stage for a in of(acts, A.StageDone)] == ["map", "reduce"]
    assert acts[-1] == A.JobFinished("ready", results=[])


def test_error_retries_with_backoff_on_another_host():
    job = make_job([("map", "split", False)], [["raw://x"]], unit=2, maximum=60, randomize=0)
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    acts = job.task_failed(0, 1, "h1", "error", "Traceback: boom", 1.0)
    assert acts == [A.Release(0, "h1"),
                    A.Event("h1", "WARNING: [map:0] Traceback: boom"),
                    A.Event("master", "Task map:0 failed on h1, 1th failures so far. "
                                      "Sleeping 2 seconds before retrying.")]
    assert job.tick(2.9) == []
    assert job.tick(3.0) == [A.Enqueue(0, (), frozenset({"h1"}))]
    job.assign(0, "h2", 3.0)
    assert job.task_failed(0, 1, "h2", "error", "stale", 3.5) == []  # old attempt: ignored
    job.task_failed(0, 2, "h2", "error", "again", 4.0)
    # both hosts failed once: the avoid set is reset so the task can run anywhere
    assert job.tick(100.0) == [A.Enqueue(0, (), frozenset())]


def test_max_failure_rate_kills_job():
    job = make_job([("map", "split", False)], [["raw://x"]], max_failure_rate=1, randomize=0)
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.task_failed(0, 1, "h1", "error", "e1", 1.0)
    job.tick(10.0)
    job.assign(0, "h2", 10.0)
    acts = job.task_failed(0, 2, "h2", "error", "e2", 11.0)
    message = "Task map:0 failed 2 times. At most 1 failures are allowed."
    assert A.Event("master", f"ERROR: [map:0] {message}") in acts
    assert acts[-1] == A.JobFinished("dead", reason=f"{message} Last failure on h2: e2")
    assert job.status == "dead"


def test_fatal_kills_job_and_running_tasks():
    job = make_job([("map", "split", False)], [["raw://a"], ["raw://b"], ["raw://c"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    acts = job.task_failed(0, 1, "h1", "fatal", "ValueError: bad", 1.0)
    assert acts[:2] == [A.Release(0, "h1"), A.Event("h1", "FATAL: [map:0] ValueError: bad")]
    assert A.KillTask("h2", 1, 1) in acts and A.Dequeue(2) in acts
    assert acts[-1].status == "dead" and "map:0" in acts[-1].reason and "h1" in acts[-1].reason


def test_concurrent_stage_streams_inputs():
    job = make_job([("map", "split", False), ("red", "group_all", True)],
                   [["raw://a"], ["raw://b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    acts = job.task_done(0, 1, "h1", [["disco://h1/o0", [[0, 1]]]], 1.0)
    (enq,) = of(acts, A.Enqueue)
    assert job.may_start(enq.task)  # 2*0 < 1 running map task
    run = of(job.assign(enq.task, "h1", 1.0), A.RunTask)[0]
    assert run.message["inputs_done"] is False and len(run.message["inputs"]) == 1
    acts = job.task_done(1, 1, "h2", [["disco://h2/o1", [[0, 1]]]], 2.0)
    sends = of(acts, A.SendInputs)
    assert sends[0].inputs == [[1, "ok", 0, [[0, "disco://h2/o1"]]]] and not sends[0].done
    assert sends[1] == A.SendInputs("h1", enq.task, 1, [], True)
    final = job.task_done(enq.task, 1, "h1", [["disco://h1/r", [[0, 1]]]], 3.0)
    assert final[-1].status == "ready"


def test_node_loss_rewinds_to_lost_outputs():
    job = make_job([("map", "split", False), ("shuffle", "group_node", False),
                    ("reduce", "group_label", False)], [["disco://h1/a"], ["disco://h2/b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    job.task_done(0, 1, "h1", [dir_result("h1", "m0", [[0, 1]])], 1.0)
    acts = job.task_done(1, 1, "h2", [dir_result("h2", "m1", [[0, 1]])], 1.0)
    shuffle = [a.task for a in of(acts, A.Enqueue)]
    assert len(shuffle) == 2
    job.assign(shuffle[0], "h1", 2.0)
    job.assign(shuffle[1], "h2", 2.0)
    job.task_done(shuffle[0], 1, "h1", [dir_result("h1", "s0", [[0, 1]])], 3.0)
    acts = job.task_done(shuffle[1], 1, "h2", [dir_result("h2", "s1", [[0, 1]])], 3.0)
    (reduce_id,) = [a.task for a in of(acts, A.Enqueue)]
    job.assign(reduce_id, "h2", 4.0)
    acts = job.node_lost("h1", 5.0)
    # shuffle output on h1 is needed by the unfinished reduce, and the map output on h1 is needed
    # to re-run that shuffle task: rewind to map, re-plan shuffle and reduce
    assert A.KillTask("h2", reduce_id, 1) in acts
    assert of(acts, A.Enqueue) == [A.Enqueue(0, ("h1",))]
    assert job.tasks[shuffle[1]].status == "dropped"
    job.assign(0, "h2", 6.0)
    acts = job.task_done(0, 2, "h2", [dir_result("h2", "m0b", [[0, 1]])], 7.0)
    assert of(acts, A.Event)[-1].message == "Stage shuffle scheduled with 1 tasks"


def test_node_loss_reschedules_running_tasks():
    job = make_job([("map", "split", False)], [["raw://a"]], randomize=0)
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    acts = job.node_lost("h1", 1.0)
    assert A.Event("h1", "WARNING: [map:0] Connection lost to the node (network busy?)") in acts
    assert job.tick(2.0) == [A.Enqueue(0, (), frozenset({"h1"}))]


def test_kill_and_counts():
    job = make_job([("map", "split", False)], [["raw://a"], ["raw://b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    assert job.stage_counts() == [["map", 1, 0, 1, 0, 0]]
    acts = job.kill("killed by user", 1.0)
    assert acts[0] == A.Event("master", "WARN: Job killed")
    assert acts[-1] == A.JobFinished("dead", reason="killed by user")
    assert job.kill("again", 2.0) == []


def test_format_duration():
    assert format_duration(3723.0456) == "1:02:03.046"


def snapshot(job):
    """What the master's store keeps: the plan and one row per task (JSON round trip)."""
    import json
    rows = [{"task": t.id, "stage": t.stage, "host": t.host, "start": t.start, "end": t.end,
             "status": t.status, "attempts": t.attempt, "failures": t.failures,
             "state": json.loads(json.dumps(JobCoordinator.task_state(t)))}
            for t in job.tasks.values()]
    return json.loads(json.dumps(job.plan())), rows


def restored(job, rows=None):
    plan, all_rows = snapshot(job)
    return JobCoordinator.restore(job.name, plan, all_rows if rows is None else rows, 0.0,
                                  RetryPolicy(randomize=0), random.Random(2), {"h1", "h2"})


def test_resume_keeps_done_tasks_and_requeues_the_rest():
    job = make_job([("map", "split", False), ("reduce", "group_label", False)],
                   [["disco://h1/a"], ["disco://h2/b"], ["disco://h1/c"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    job.task_done(0, 1, "h1", [dir_result("h1", "m0", [[0, 1], [1, 2]])], 1.0)
    job.task_failed(1, 1, "h2", "error", "boom", 1.0)   # waiting for its retry
    again = restored(job)
    acts = again.resume(5.0)
    assert "resumed after a master restart: 1 done task(s) kept, 2 to run" in \
        of(acts, A.Event)[0].message
    assert sorted(a.task for a in of(acts, A.Enqueue)) == [1, 2]
    assert again.tasks[0].status == "done" and again.tasks[1].failed_hosts == {"h2"}
    # the running attempt of the old master is stale; a new attempt runs
    run = of(again.assign(1, "h1", 6.0), A.RunTask)[0]
    assert run.message["attempt"] == 2
    again.assign(2, "h1", 6.0)
    again.task_done(1, 2, "h1", [dir_result("h1", "m1", [[0, 3]])], 7.0)
    acts = again.task_done(2, 1, "h1", [dir_result("h1", "m2", [[1, 1]])], 7.0)
    assert of(acts, A.Event)[-1].message == "Stage reduce scheduled with 2 tasks"
    reduce_ids = [a.task for a in of(acts, A.Enqueue)]
    assert min(reduce_ids) == 3   # ids continue after the restored tasks
    for task_id in reduce_ids:
        again.assign(task_id, "h2", 8.0)
    again.task_done(reduce_ids[0], 1, "h2", [["disco://h2/r0", [[0, 1]]]], 9.0)
    final = again.task_done(reduce_ids[1], 1, "h2", [["disco://h2/r1", [[1, 1]]]], 9.0)
    assert final[-1].status == "ready" and again.status == "ready"


def test_resume_plans_a_stage_whose_tasks_were_not_stored_and_finishes_a_done_job():
    job = make_job([("map", "split", False), ("reduce", "group_all", False)],
                   [["disco://h1/a"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    acts = job.task_done(0, 1, "h1", [dir_result("h1", "m0", [[0, 1]])], 1.0)
    (reduce_id,) = [a.task for a in of(acts, A.Enqueue)]
    _plan, rows = snapshot(job)
    # the master died after storing the map task as done but before the reduce task's row
    again = restored(job, [r for r in rows if r["task"] != reduce_id])
    acts = again.resume(2.0)
    assert of(acts, A.StageDone)[0].stage == "map"
    assert "Stage reduce scheduled with 1 tasks" in [e.message for e in of(acts, A.Event)]
    # every task done: resuming finishes the job at once
    job.assign(reduce_id, "h1", 2.0)
    job.task_done(reduce_id, 1, "h1", [["disco://h1/out", [[0, 9]]]], 3.0)
    job.status = "active"   # as stored before the job record said ready
    acts = restored(job).resume(4.0)
    assert acts[-1] == A.JobFinished("ready", results=[["disco://h1/out#0"]])


def test_resume_refeeds_a_concurrent_stage():
    job = make_job([("map", "split", False), ("red", "group_all", True)],
                   [["raw://a"], ["raw://b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    acts = job.task_done(0, 1, "h1", [["disco://h1/o0", [[0, 1]]]], 1.0)
    (consumer,) = [a.task for a in of(acts, A.Enqueue)]
    again = restored(job)
    acts = again.resume(2.0)
    assert again.tasks[consumer].status == "dropped"
    queued = sorted(a.task for a in of(acts, A.Enqueue))
    assert 1 in queued and len(queued) == 2          # map:1 again, and a new consumer
    new_consumer = max(queued)
    assert [r.producer for r in again.tasks[new_consumer].inputs] == [0]
    again.assign(1, "h2", 3.0)
    again.assign(new_consumer, "h1", 3.0)
    again.task_done(1, 2, "h2", [["disco://h2/o1", [[0, 1]]]], 4.0)
    final = again.task_done(new_consumer, 1, "h1", [["disco://h1/r", [[0, 2]]]], 5.0)
    assert final[-1].status == "ready"


def test_restore_rejects_rows_without_state():
    job = make_job([("map", "split", False)], [["raw://a"]])
    job.start(0.0)
    plan, rows = snapshot(job)
    rows[0]["state"] = None
    with pytest.raises(ValueError):
        JobCoordinator.restore(job.name, plan, rows, 0.0)
