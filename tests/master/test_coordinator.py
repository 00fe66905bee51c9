"""Pure tests of the job coordinator: feed events with an explicit `now`, assert exact actions."""
from __future__ import annotations

import random

import pytest

from disco.master import actions as action
from disco.master.grouping import (
    DataOutput,
    DirOutput,
    OutputRef,
    group_outputs,
    input_record,
    output_from_input,
)
from disco.master.jobs import (
    JobCoordinator,
    JobOptions,
    RetryPolicy,
    SpeculationPolicy,
    format_duration,
)

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
    assert of(acts, action.Event)[-1] == action.Event("master", "Stage map scheduled with 2 tasks")
    assert of(acts, action.Enqueue) == [action.Enqueue(0, ("h1",)), action.Enqueue(1, ("h2",))]
    run = job.assign(0, "h1", 1.0)
    msg = of(run, action.RunTask)[0].message
    assert msg["inputs"] == [[0, "ok", 0, [[0, "disco://h1/a"]]]] and msg["inputs_done"]
    assert msg["group"] == [0, "h1"] and msg["attempt"] == 1
    job.assign(1, "h2", 1.0)
    done = job.task_done(0, 1, "h1", [dir_result("h1", "m0", [[0, 5], [1, 3]])], 2.0)
    assert action.Release(0, "h1") in done and not of(done, action.StageDone)
    done = job.task_done(1, 1, "h2", [dir_result("h2", "m1", [[1, 4]])], 3.0)
    assert of(done, action.StageDone)[0].stage == "map"
    assert of(done, action.Event)[-1].message == "Stage reduce scheduled with 1 tasks"
    reduce_id = of(done, action.Enqueue)[0].task
    run = of(job.assign(reduce_id, "h1", 4.0), action.RunTask)[0]
    assert [r[2] for r in run.message["inputs"]] == ["all", "all"]
    final = job.task_done(reduce_id, 1, "h1", [["disco://h1/out", [[0, 9]]]], 5.0)
    assert final[-1] == action.JobFinished("ready", results=[["disco://h1/out#0"]])
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
    assert [a.stage for a in of(acts, action.StageDone)] == ["map", "reduce"]
    assert acts[-1] == action.JobFinished("ready", results=[])


def test_error_retries_with_backoff_on_another_host():
    job = make_job([("map", "split", False)], [["raw://x"]], unit=2, maximum=60, randomize=0)
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    acts = job.task_failed(0, 1, "h1", "error", "Traceback: boom", 1.0)
    assert acts == [action.Release(0, "h1"),
                    action.Event("h1", "WARNING: [map:0] Traceback: boom"),
                    action.Event("master", "Task map:0 failed on h1, 1th failures so far. "
                                      "Sleeping 2 seconds before retrying.")]
    assert job.tick(2.9) == []
    assert job.tick(3.0) == [action.Enqueue(0, (), frozenset({"h1"}))]
    job.assign(0, "h2", 3.0)
    assert job.task_failed(0, 1, "h2", "error", "stale", 3.5) == []  # old attempt: ignored
    job.task_failed(0, 2, "h2", "error", "again", 4.0)
    # both hosts failed once: the avoid set is reset so the task can run anywhere
    assert job.tick(100.0) == [action.Enqueue(0, (), frozenset())]


def test_max_failure_rate_kills_job():
    job = make_job([("map", "split", False)], [["raw://x"]], max_failure_rate=1, randomize=0)
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.task_failed(0, 1, "h1", "error", "e1", 1.0)
    job.tick(10.0)
    job.assign(0, "h2", 10.0)
    acts = job.task_failed(0, 2, "h2", "error", "e2", 11.0)
    message = "Task map:0 failed 2 times. At most 1 failures are allowed."
    assert action.Event("master", f"ERROR: [map:0] {message}") in acts
    assert acts[-1] == action.JobFinished("dead", reason=f"{message} Last failure on h2: e2")
    assert job.status == "dead"


def test_fatal_kills_job_and_running_tasks():
    job = make_job([("map", "split", False)], [["raw://a"], ["raw://b"], ["raw://c"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    acts = job.task_failed(0, 1, "h1", "fatal", "ValueError: bad", 1.0)
    assert acts[:2] == [action.Release(0, "h1"),
                        action.Event("h1", "FATAL: [map:0] ValueError: bad")]
    assert action.KillTask("h2", 1, 1) in acts and action.Dequeue(2) in acts
    assert acts[-1].status == "dead" and "map:0" in acts[-1].reason and "h1" in acts[-1].reason


def test_concurrent_stage_streams_inputs():
    job = make_job([("map", "split", False), ("red", "group_all", True)],
                   [["raw://a"], ["raw://b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    acts = job.task_done(0, 1, "h1", [["disco://h1/o0", [[0, 1]]]], 1.0)
    (enq,) = of(acts, action.Enqueue)
    assert job.may_start(enq.task)  # 2*0 < 1 running map task
    run = of(job.assign(enq.task, "h1", 1.0), action.RunTask)[0]
    assert run.message["inputs_done"] is False and len(run.message["inputs"]) == 1
    acts = job.task_done(1, 1, "h2", [["disco://h2/o1", [[0, 1]]]], 2.0)
    sends = of(acts, action.SendInputs)
    assert sends[0].inputs == [[1, "ok", 0, [[0, "disco://h2/o1"]]]] and not sends[0].done
    assert sends[1] == action.SendInputs("h1", enq.task, 1, [], True)
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
    shuffle = [a.task for a in of(acts, action.Enqueue)]
    assert len(shuffle) == 2
    job.assign(shuffle[0], "h1", 2.0)
    job.assign(shuffle[1], "h2", 2.0)
    job.task_done(shuffle[0], 1, "h1", [dir_result("h1", "s0", [[0, 1]])], 3.0)
    acts = job.task_done(shuffle[1], 1, "h2", [dir_result("h2", "s1", [[0, 1]])], 3.0)
    (reduce_id,) = [a.task for a in of(acts, action.Enqueue)]
    job.assign(reduce_id, "h2", 4.0)
    acts = job.node_lost("h1", 5.0)
    # lineage rule: the shuffle output on h1 is needed by the unfinished reduce, and the map
    # output on h1 is needed to re-run that shuffle task. Map:1 and shuffle:s1 (on h2) are kept.
    assert action.KillTask("h2", reduce_id, 1) in acts
    assert of(acts, action.Enqueue) == [action.Enqueue(0, ("h1",))]
    assert "re-running 2 task(s)" in of(acts, action.Event)[0].message
    assert job.tasks[1].status == job.tasks[shuffle[1]].status == "done"
    assert job.tasks[shuffle[0]].status == job.tasks[reduce_id].status == "blocked"
    job.assign(0, "h2", 6.0)
    acts = job.task_done(0, 2, "h2", [dir_result("h2", "m0b", [[0, 1]])], 7.0)
    # the blocked shuffle task gets the new map output in place of the lost one
    assert of(acts, action.Enqueue) == [action.Enqueue(shuffle[0], ("h1",))]
    assert [r.output.url for r in job.tasks[shuffle[0]].inputs] == [
        "dir://h2/disco/h2/aa/J/.disco/m0b.results"]
    job.assign(shuffle[0], "h2", 8.0)
    acts = job.task_done(shuffle[0], 2, "h2", [dir_result("h2", "s0b", [[0, 1]])], 9.0)
    assert of(acts, action.Enqueue) == [action.Enqueue(reduce_id, ("h2",))]
    assert sorted(r.output.url for r in job.tasks[reduce_id].inputs) == [
        "dir://h2/disco/h2/aa/J/.disco/s0b.results", "dir://h2/disco/h2/aa/J/.disco/s1.results"]
    job.assign(reduce_id, "h2", 10.0)
    final = job.task_done(reduce_id, 2, "h2", [["disco://h2/r", [[0, 2]]]], 11.0)
    assert final[-1].status == "ready"
    assert sum(t.status == "done" for t in job.tasks.values()) == 5   # no task was re-planned


def test_node_loss_reschedules_running_tasks():
    job = make_job([("map", "split", False)], [["raw://a"]], randomize=0)
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    acts = job.node_lost("h1", 1.0)
    lost = "WARNING: [map:0] Connection lost to the node (network busy?)"
    assert action.Event("h1", lost) in acts
    assert job.tick(2.0) == [action.Enqueue(0, (), frozenset({"h1"}))]


def test_kill_and_counts():
    job = make_job([("map", "split", False)], [["raw://a"], ["raw://b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    assert job.stage_counts() == [["map", 1, 0, 1, 0, 0]]
    acts = job.kill("killed by user", 1.0)
    assert acts[0] == action.Event("master", "WARN: Job killed")
    assert acts[-1] == action.JobFinished("dead", reason="killed by user")
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
        of(acts, action.Event)[0].message
    assert sorted(a.task for a in of(acts, action.Enqueue)) == [1, 2]
    assert again.tasks[0].status == "done" and again.tasks[1].failed_hosts == {"h2"}
    # the running attempt of the old master is stale; a new attempt runs
    run = of(again.assign(1, "h1", 6.0), action.RunTask)[0]
    assert run.message["attempt"] == 2
    again.assign(2, "h1", 6.0)
    again.task_done(1, 2, "h1", [dir_result("h1", "m1", [[0, 3]])], 7.0)
    acts = again.task_done(2, 1, "h1", [dir_result("h1", "m2", [[1, 1]])], 7.0)
    assert of(acts, action.Event)[-1].message == "Stage reduce scheduled with 2 tasks"
    reduce_ids = [a.task for a in of(acts, action.Enqueue)]
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
    (reduce_id,) = [a.task for a in of(acts, action.Enqueue)]
    _plan, rows = snapshot(job)
    # the master died after storing the map task as done but before the reduce task's row
    again = restored(job, [r for r in rows if r["task"] != reduce_id])
    acts = again.resume(2.0)
    assert of(acts, action.StageDone)[0].stage == "map"
    assert "Stage reduce scheduled with 1 tasks" in [e.message for e in of(acts, action.Event)]
    # every task done: resuming finishes the job at once
    job.assign(reduce_id, "h1", 2.0)
    job.task_done(reduce_id, 1, "h1", [["disco://h1/out", [[0, 9]]]], 3.0)
    job.status = "active"   # as stored before the job record said ready
    acts = restored(job).resume(4.0)
    assert acts[-1] == action.JobFinished("ready", results=[["disco://h1/out#0"]])


def test_resume_keeps_a_concurrent_stage_as_stored():
    job = make_job([("map", "split", False), ("red", "group_all", True)],
                   [["raw://a"], ["raw://b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    acts = job.task_done(0, 1, "h1", [["disco://h1/o0", [[0, 1]]]], 1.0)
    (consumer,) = [a.task for a in of(acts, action.Enqueue)]
    again = restored(job)
    acts = again.resume(2.0)
    # the consumer keeps the inputs it was fed; only map:1 and the consumer are queued
    assert sorted(a.task for a in of(acts, action.Enqueue)) == [1, consumer]
    assert [r.producer for r in again.tasks[consumer].inputs] == [0]
    again.assign(1, "h2", 3.0)
    again.assign(consumer, "h1", 3.0)
    again.task_done(1, 2, "h2", [["disco://h2/o1", [[0, 1]]]], 4.0)
    assert [r.producer for r in again.tasks[consumer].inputs] == [0, 1]
    final = again.task_done(consumer, 1, "h1", [["disco://h1/r", [[0, 2]]]], 5.0)
    assert final[-1].status == "ready"


def test_resume_keeps_done_tasks_of_a_concurrent_stage():
    """A concurrent stage's done tasks do not run again after a master restart."""
    job = make_job([("map", "split", False), ("red", "group_label", True),
                    ("last", "group_all", False)],
                   [["raw://a"], ["raw://b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    job.task_done(0, 1, "h1", [["disco://h1/o0", [[0, 1]]]], 1.0)
    acts = job.task_done(1, 1, "h2", [["disco://h2/o1", [[1, 1]]]], 1.0)
    consumers = sorted(t.id for t in job.tasks.values() if t.stage == "red")
    assert len(consumers) == 2 and of(acts, action.StageDone)[0].stage == "map"
    for task_id in consumers:
        job.assign(task_id, "h1", 2.0)
    job.task_done(consumers[0], 1, "h1", [["disco://h1/r0", [[0, 1]]]], 3.0)
    again = restored(job)
    acts = again.resume(4.0)
    assert of(acts, action.Enqueue) == [action.Enqueue(consumers[1], ("h2",))]
    assert again.tasks[consumers[0]].status == "done"
    run = of(again.assign(consumers[1], "h2", 5.0), action.RunTask)[0]
    assert run.message["inputs_done"] and run.message["attempt"] == 2
    acts = again.task_done(consumers[1], 2, "h2", [["disco://h2/r1", [[1, 1]]]], 6.0)
    assert "Stage last scheduled with 1 tasks" in [e.message for e in of(acts, action.Event)]


def test_an_attempt_running_at_the_restart_may_still_report_done():
    """The node re-sends a done report the old master never stored: no second run."""
    job = make_job([("map", "split", False)], [["raw://a"], ["raw://b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    again = restored(job)
    acts = again.resume(2.0)
    assert sorted(a.task for a in of(acts, action.Enqueue)) == [0, 1]
    acts = again.task_done(0, 1, "h1", [["disco://h1/o0", [[0, 1]]]], 2.5)
    assert action.Dequeue(0) in acts and again.tasks[0].status == "done"
    assert "finished before the master restarted" in of(acts, action.Event)[0].message
    # a re-run already started: the late report wins and the new attempt is killed
    again.assign(1, "h1", 3.0)
    acts = again.task_done(1, 1, "h2", [["disco://h2/o1", [[0, 1]]]], 3.5)
    assert action.KillTask("h1", 1, 2) in acts and action.Release(1, "h1") in acts
    assert acts[-1].status == "ready"
    # a report from a host that did not run the attempt is ignored
    other = restored(job)
    other.resume(2.0)
    assert other.task_done(0, 1, "h2", [["disco://h2/x", [[0, 1]]]], 3.0) == []


def speculative_job(**policy):
    inputs = [output_from_input(0, 10, [f"raw://{i}"]) for i in range(4)]
    return JobCoordinator("J@1:2:3", [("map", "split", False)], inputs,
                          JobOptions("w", "http://m/p"), RetryPolicy(randomize=0),
                          random.Random(1), {"h1", "h2", "h3"},
                          SpeculationPolicy(**{"min_runtime": 1.0, **policy}))


def test_speculation_copies_a_straggler_and_the_first_to_finish_wins():
    job = speculative_job()
    job.start(0.0)
    for task_id, host in enumerate(["h1", "h2", "h3", "h1"]):
        job.assign(task_id, host, 0.0)
    for task_id in (1, 2, 3):
        job.task_done(task_id, 1, job.tasks[task_id].host, [[f"disco://h/o{task_id}",
                                                             [[0, 1]]]], 2.0)
    assert not of(job.tick(2.5), action.Enqueue)          # 2.5 s < 1.5 x median (2 s)
    acts = job.tick(3.5)
    assert of(acts, action.Enqueue) == [action.Enqueue(0, (), frozenset({"h1"}))]
    assert "speculative attempt" in of(acts, action.Event)[0].message
    assert not of(job.tick(10.0), action.Enqueue)         # one copy at a time
    run = job.assign(0, "h2", 4.0)
    assert of(run, action.RunTask)[0].message["attempt"] == 2
    assert job.stage_counts() == [["map", 0, 0, 1, 3, 0]]
    assert job.running_hosts() == ["h1", "h2"]
    acts = job.task_done(0, 2, "h2", [["disco://h2/o0", [[0, 1]]]], 5.0)
    assert action.KillTask("h1", 0, 1) in acts
    assert action.Release(0, "h1") in acts and action.Release(0, "h2") in acts
    assert acts[-1] == action.JobFinished("ready", results=[["disco://h2/o0#0"], ["disco://h/o1#0"],
                                                       ["disco://h/o2#0"], ["disco://h/o3#0"]])
    # the loser's late report changes nothing
    assert job.task_done(0, 1, "h1", [["disco://h1/o0", [[0, 1]]]], 6.0) == []


def test_speculation_loser_failing_or_original_winning():
    job = speculative_job()
    job.start(0.0)
    for task_id, host in enumerate(["h1", "h2", "h3", "h1"]):
        job.assign(task_id, host, 0.0)
    for task_id in (1, 2, 3):
        job.task_done(task_id, 1, job.tasks[task_id].host, [["disco://h/o", [[0, 1]]]], 1.0)
    job.tick(5.0)
    # the original finishes while the copy is still queued: the copy is dequeued
    acts = job.task_done(0, 1, "h1", [["disco://h1/o0", [[0, 1]]]], 5.5)
    assert action.Dequeue(0) in acts and acts[-1].status == "ready"
    assert job.assign(0, "h2", 6.0) == [action.Release(0, "h2")]

    job = speculative_job()
    job.start(0.0)
    for task_id, host in enumerate(["h1", "h2", "h3", "h1"]):
        job.assign(task_id, host, 0.0)
    for task_id in (1, 2, 3):
        job.task_done(task_id, 1, job.tasks[task_id].host, [["disco://h/o", [[0, 1]]]], 1.0)
    job.tick(5.0)
    job.assign(0, "h2", 5.0)
    acts = job.task_failed(0, 2, "h2", "error", "boom", 6.0)    # the copy fails: no retry
    assert action.Release(0, "h2") in acts and not of(acts, action.Enqueue)
    assert job.tasks[0].status == "running" and job.next_timer() is None
    acts = job.task_done(0, 1, "h1", [["disco://h1/o0", [[0, 1]]]], 7.0)
    assert acts[-1].status == "ready" and not of(acts, action.KillTask)


def test_speculation_off_and_thresholds():
    job = speculative_job(enabled=False)
    job.start(0.0)
    for task_id, host in enumerate(["h1", "h2", "h3", "h1"]):
        job.assign(task_id, host, 0.0)
    for task_id in (1, 2, 3):
        job.task_done(task_id, 1, job.tasks[task_id].host, [["disco://h/o", [[0, 1]]]], 1.0)
    assert job.tick(100.0) == []
    job = speculative_job(quantile=1.0)              # never before every task is done
    job.start(0.0)
    for task_id, host in enumerate(["h1", "h2", "h3", "h1"]):
        job.assign(task_id, host, 0.0)
    for task_id in (1, 2, 3):
        job.task_done(task_id, 1, job.tasks[task_id].host, [["disco://h/o", [[0, 1]]]], 1.0)
    assert job.tick(100.0) == []
    job = speculative_job(min_runtime=50.0)
    job.start(0.0)
    for task_id, host in enumerate(["h1", "h2", "h3", "h1"]):
        job.assign(task_id, host, 0.0)
    for task_id in (1, 2, 3):
        job.task_done(task_id, 1, job.tasks[task_id].host, [["disco://h/o", [[0, 1]]]], 1.0)
    assert not of(job.tick(40.0), action.Enqueue) and of(job.tick(60.0), action.Enqueue)


def test_node_loss_keeps_done_tasks_whose_outputs_are_not_needed():
    """Lost outputs already consumed by done tasks are not re-created."""
    job = make_job([("map", "split", False), ("reduce", "group_label", False)],
                   [["raw://a"], ["raw://b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    job.task_done(0, 1, "h1", [dir_result("h1", "m0", [[0, 1], [1, 1]])], 1.0)
    acts = job.task_done(1, 1, "h2", [dir_result("h2", "m1", [[0, 1], [1, 1]])], 1.0)
    r0, r1 = [a.task for a in of(acts, action.Enqueue)]
    job.assign(r0, "h2", 2.0)
    job.assign(r1, "h2", 2.0)
    job.task_done(r0, 1, "h2", [["disco://h2/r0", [[0, 1]]]], 3.0)
    acts = job.node_lost("h1", 4.0)
    # map:0's output is lost; reduce r0 (done, on h2) read it already, r1 still runs: map:0
    # re-runs for r1 only, r1 is stopped until then, r0 and map:1 are kept
    assert action.KillTask("h2", r1, 1) in acts
    assert of(acts, action.Enqueue) == [action.Enqueue(0, ())]
    assert job.tasks[r0].status == "done" and job.tasks[r1].status == "blocked"
    job.assign(0, "h2", 5.0)
    acts = job.task_done(0, 2, "h2", [dir_result("h2", "m0b", [[0, 1], [1, 1]])], 6.0)
    assert of(acts, action.Enqueue) == [action.Enqueue(r1, ("h2",))]
    job.assign(r1, "h2", 7.0)
    final = job.task_done(r1, 2, "h2", [["disco://h2/r1", [[1, 1]]]], 8.0)
    assert final[-1] == action.JobFinished("ready", results=[["disco://h2/r0#0"],
                                                        ["disco://h2/r1#1"]])
    # lost outputs that nothing needs any more re-run nothing
    assert job.node_lost("h2", 9.0) == []


def test_input_failure_reruns_only_the_producer_and_blocks_the_reader():
    job = make_job([("map", "split", False), ("reduce", "group_all", False)],
                   [["raw://a"], ["raw://b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    job.task_done(0, 1, "h1", [dir_result("h1", "m0", [[0, 1]])], 1.0)
    acts = job.task_done(1, 1, "h2", [dir_result("h2", "m1", [[0, 1]])], 1.0)
    (reduce_id,) = [a.task for a in of(acts, action.Enqueue)]
    job.assign(reduce_id, "h2", 2.0)
    acts = job.input_failed(reduce_id, 1, "h2", 0, 3.0)
    assert of(acts, action.Enqueue) == [action.Enqueue(0, ())]
    assert action.KillTask("h2", reduce_id, 1) in acts and job.tasks[1].status == "done"
    assert job.task_failed(reduce_id, 1, "h2", "error", "cannot read", 3.1) == []
    job.assign(0, "h2", 4.0)
    acts = job.task_done(0, 2, "h2", [dir_result("h2", "m0b", [[0, 1]])], 5.0)
    assert of(acts, action.Enqueue) == [action.Enqueue(reduce_id, ("h2",))]
    assert len(job.tasks[reduce_id].inputs) == 2


def test_blocked_tasks_survive_a_master_restart():
    job = make_job([("map", "split", False), ("reduce", "group_all", False)],
                   [["raw://a"], ["raw://b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    job.task_done(0, 1, "h1", [dir_result("h1", "m0", [[0, 1]])], 1.0)
    acts = job.task_done(1, 1, "h2", [dir_result("h2", "m1", [[0, 1]])], 1.0)
    (reduce_id,) = [a.task for a in of(acts, action.Enqueue)]
    job.assign(reduce_id, "h2", 2.0)
    job.node_lost("h1", 3.0)
    again = restored(job)
    acts = again.resume(4.0)
    assert of(acts, action.Enqueue) == [action.Enqueue(0, ())]
    assert again.tasks[reduce_id].status == "blocked"
    again.assign(0, "h2", 5.0)
    acts = again.task_done(0, 2, "h2", [dir_result("h2", "m0b", [[0, 1]])], 6.0)
    assert of(acts, action.Enqueue) == [action.Enqueue(reduce_id, ("h2",))]


def test_restore_rejects_rows_without_state():
    job = make_job([("map", "split", False)], [["raw://a"]])
    job.start(0.0)
    plan, rows = snapshot(job)
    rows[0]["state"] = None
    with pytest.raises(ValueError):
        JobCoordinator.restore(job.name, plan, rows, 0.0)


def test_after_a_restart_a_task_waits_for_its_attempts_node():
    job = make_job([("map", "split", False)], [["raw://a"], ["raw://b"], ["raw://c"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    again = restored(job)
    acts = again.resume(1.0, grace=5.0)
    assert of(acts, action.Enqueue) == [action.Enqueue(2, ())]       # never started: queued at once
    assert again.tasks[0].status == again.tasks[1].status == "waiting"
    # h1 reconnects without a report for task 0 (its node killed it): task 0 runs again now
    assert again.node_added("h1") == [action.Enqueue(0, ())]
    # h2 is lost: task 1 no longer waits for it either
    assert of(again.node_lost("h2", 2.0), action.Enqueue) == [action.Enqueue(1, ())]
    assert again.tick(10.0) == []   # the grace timers find nothing left to do


def test_a_rerun_with_more_outputs_routes_the_extra_ones_by_group():
    job = make_job([("map", "split", False), ("reduce", "group_label", False)],
                   [["raw://a"], ["raw://b"]])
    job.start(0.0)
    job.assign(0, "h1", 0.0)
    job.assign(1, "h2", 0.0)
    job.task_done(0, 1, "h1", [["disco://h1/m0", [[0, 1]]]], 1.0)
    acts = job.task_done(1, 1, "h2", [["disco://h2/m1", [[1, 1]]]], 1.0)
    r0, r1 = [a.task for a in of(acts, action.Enqueue)]          # labels 0 and 1
    job.assign(r0, "h2", 2.0)
    job.assign(r1, "h2", 2.0)
    job.node_lost("h1", 3.0)                                 # map:0 re-runs for r0
    job.assign(0, "h2", 4.0)
    acts = job.task_done(0, 2, "h2", [["disco://h2/m0b", [[0, 1]]],
                                      ["disco://h2/m0c", [[1, 1]]]], 5.0)
    # output 0 replaces the lost one in r0; the new output 1 (label 1) joins r1, which was
    # running: it is restarted with it
    assert action.KillTask("h2", r1, 1) in acts
    assert sorted(a.task for a in of(acts, action.Enqueue)) == [r0, r1]
    assert [r.output.replicas[0][0] for r in job.tasks[r0].inputs] == ["disco://h2/m0b"]
    assert sorted(r.output.replicas[0][0] for r in job.tasks[r1].inputs) == [
        "disco://h2/m0c", "disco://h2/m1"]
    assert len([t for t in job.tasks.values() if t.stage == "reduce"]) == 2
    job.assign(r1, "h1", 6.0)
    job.task_done(r1, 2, "h1", [["disco://h1/r1", [[1, 2]]]], 7.0)
    # a done task of the group: the extra outputs of a later re-run get a new task
    job.node_lost("h2", 8.0)      # r0 (running on h2) fails; map:0's outputs are lost
    job.assign(0, "h1", 9.0)
    acts = job.task_done(0, 3, "h1", [["disco://h1/x0", [[0, 1]]], ["disco://h1/x1", [[1, 1]]],
                                      ["disco://h1/x2", [[2, 1]]]], 10.0)
    assert "tasks should be deterministic" in " ".join(e.message for e in of(acts, action.Event))
    assert len([t for t in job.tasks.values() if t.stage == "reduce"]) == 3
