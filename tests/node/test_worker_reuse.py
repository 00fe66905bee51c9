"""Worker reuse on a real cluster: our Python workers run several tasks of one job in turn
(each with its own protocol session, task, outputs and failure handling); a job parameter and
a cluster setting turn it off."""
from __future__ import annotations

import pytest

from disco.core import Job, result_iterator
from disco.worker.classic.worker import Params
from jobs import reuse

pytestmark = pytest.mark.timeout(120)

HOSTS = ("127.0.0.2",)
INPUTS = ["raw://t%d" % i for i in range(30)]


def run(**jobargs):
    job = Job().run(input=INPUTS, map=reuse.pid_map, **jobargs)
    results = list(result_iterator(job.wait(timeout=90)))
    return results


def check_every_task_once(results):
    assert sorted(key for key, _ in results) == sorted(url[6:] for url in INPUTS)


def test_workers_run_several_tasks_of_a_job(cluster):
    cluster(hosts=HOSTS, workers=2)
    results = run()
    check_every_task_once(results)
    pids = {pid for _, (pid, _) in results}
    assert len(pids) < len(INPUTS) / 2, pids
    # module globals survive from one task to the next in the same process (documented)
    assert max(n for _, (_, n) in results) > 1


def test_each_job_gets_its_own_workers(cluster):
    cluster(hosts=HOSTS, workers=2)
    first = {pid for _, (pid, _) in run()}
    second = {pid for _, (pid, _) in run()}
    assert not first & second


def test_job_parameter_turns_reuse_off(cluster):
    cluster(hosts=HOSTS, workers=2)
    results = run(worker_reuse=False)
    check_every_task_once(results)
    assert len({pid for _, (pid, _) in results}) == len(INPUTS)
    assert {n for _, (_, n) in results} == {1}


def test_cluster_setting_turns_reuse_off(cluster):
    cluster(hosts=HOSTS, workers=2, settings={"DISCO_WORKER_REUSE": "0"})
    results = run()
    check_every_task_once(results)
    assert len({pid for _, (pid, _) in results}) == len(INPUTS)


def test_a_failed_task_is_retried_and_reuse_goes_on(cluster, tmp_path):
    cluster(hosts=HOSTS, workers=2)
    inputs = INPUTS[:10] + ["raw://fail"] + INPUTS[10:20]
    job = Job().run(input=inputs, map=reuse.fail_once_map,
                    params=Params(directory=str(tmp_path)))
    results = list(result_iterator(job.wait(timeout=90)))
    assert sorted(key for key, _ in results) == sorted(url[6:] for url in inputs)
    assert (tmp_path / "failed-once").exists()
    assert len({pid for _, (pid, _) in results}) < len(inputs) / 2


def test_parked_workers_end_after_the_idle_time(cluster):
    import time
    cluster(hosts=HOSTS, workers=2, settings={"DISCO_WORKER_REUSE_IDLE": "1"})
    pids = {pid for _, (pid, _) in run()}

    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in pids if alive(pid)]


def test_a_parked_worker_that_dies_is_not_given_a_task(cluster):
    import os
    import signal
    import time
    cluster(hosts=HOSTS, workers=2, settings={"DISCO_WORKER_REUSE_IDLE": "30"})
    first = {pid for _, (pid, _) in run()}
    for pid in first:  # the parked workers die while they wait for a task
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)  # the node sees their pipes end (it does not poll parked workers)
    results = run()
    check_every_task_once(results)
    assert not {pid for _, (pid, _) in results} & first
