"""`disco.core.Disco` methods and job classes of DISCO.md §1.2/§1.3/§1.7 that other tests do
not call, against the shared real cluster: new_job, jobpack, stageresults, check_results,
clean, whitelist, config round trip, SimpleJob, and a pipeline Stage with input_hook."""
from __future__ import annotations

import time

import pytest

from disco.core import Continue, Disco, result_iterator
from disco.error import CommError, JobError
from disco.job import JobPack, SimpleJob
from disco.worker.pipeline.worker import Stage
from disco.worker.pipeline.worker import Worker as PipelineWorker

pytestmark = pytest.mark.timeout(150)

JOB_TIMEOUT = 120


def upper_map(line, params):
    yield line.upper(), 1


def simple_stage(worker, task, **jobargs):
    """A SimpleJob stage: write one record to its output and finish."""
    out = worker.output(task)
    out.file.add("simple", task.stage) if hasattr(out, "file") else out.add("simple", task.stage)


def reversed_labels(state, labels):
    """input_hook: process labels in reverse order."""
    return sorted(labels, reverse=True)


def emit_label(interface, state, label, inp):
    for record in inp:
        interface.output(0).add(label, record)


@pytest.fixture
def client(shared_cluster) -> Disco:
    return Disco(master=shared_cluster.master_url, settings=shared_cluster.settings)


def test_compat_new_job_jobpack_stageresults_clean(client):
    job = client.new_job("CompatNew", input=["raw://a b"], map=upper_map)
    results = client.wait(job.name, timeout=JOB_TIMEOUT)
    assert sorted(k for k, _v in result_iterator(results)) == ["A B"]
    pack = client.jobpack(job.name)
    assert pack.jobdict["prefix"] == "CompatNew" and pack.jobdict["map?"] is True
    assert isinstance(JobPack.load, object)
    assert client.stageresults(job.name, "map_shuffle") == results
    assert client.check_results(job.name, time.time(), None, 0.1) == results
    client.clean(job.name)
    assert client.results(job.name)[0] == "unknown job"


def test_compat_check_results_active_and_dead(client):
    job = client.new_job("CompatSlow", input=["raw://x"], map=slow_map)
    with pytest.raises(Continue):
        client.check_results(job.name, time.time(), None, 0.1)
    with pytest.raises(JobError, match="Timeout"):
        client.check_results(job.name, time.time() - 10, 1, 0.1)
    client.kill(job.name)
    with pytest.raises(JobError, match="Status dead"):
        client.wait(job.name, poll_interval=0.1, timeout=JOB_TIMEOUT)


def slow_map(line, params):
    import time
    time.sleep(60)
    yield line, 1


def test_compat_blacklist_whitelist_and_config(client, shared_cluster):
    host = shared_cluster.hosts[0]
    table = client.config
    assert [h for h, _n in table] == list(shared_cluster.hosts)
    client.blacklist(host)
    try:
        assert client.nodeinfo()[host]["blacklisted"] is True
    finally:
        client.whitelist(host)
    assert client.nodeinfo()[host]["blacklisted"] is False
    client.config = table  # saving the same table changes nothing
    assert client.config == table
    with pytest.raises((CommError, Exception)):
        client.set_config([["dup", "1"], ["dup", "1"]])
    assert client.config == table


def test_compat_simple_job(shared_cluster):
    job = SimpleJob(master=shared_cluster.master_url, settings=shared_cluster.settings).run(
        input=["raw://one"], map=simple_stage, map_shuffle=simple_stage)
    # every stage of the v1 pipeline (map, map_shuffle) calls the function named after it
    assert list(result_iterator(job.wait(timeout=JOB_TIMEOUT))) == [("simple", "map_shuffle")]


def test_compat_pipeline_input_hook(shared_cluster):
    from disco.job import Job

    class HookJob(Job):
        Worker = PipelineWorker

    pipeline = [("split", Stage("first", process=label_by_word)),
                ("group_all", Stage("second", process=emit_label, input_hook=reversed_labels,
                                    combine=True))]
    job = HookJob(master=shared_cluster.master_url, settings=shared_cluster.settings).run(
        input=[["raw://b"], ["raw://a"], ["raw://c"]], pipeline=pipeline)
    labels = [label for label, _record in result_iterator(job.wait(timeout=JOB_TIMEOUT))]
    assert labels == sorted(labels, reverse=True) and len(labels) == 3


def label_by_word(interface, state, label, inp):
    for line in inp:
        word = line.strip()
        interface.output({"a": 0, "b": 1, "c": 2}[word]).add(word, 1)
