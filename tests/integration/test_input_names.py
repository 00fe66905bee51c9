"""How job inputs are named, as in Disco: a bare tag name is a DDFS tag, a relative path a
local file; a pipeline job takes plain string inputs."""
from __future__ import annotations

import io

import pytest

from disco.core import Job, result_iterator
from disco.ddfs import DDFS
from disco.error import InputNotFound
from disco.worker.pipeline.worker import Stage, Worker as PipelineWorker

pytestmark = pytest.mark.timeout(120)


def line_map(line, params):
    yield line.strip(), 1


def line_count(interface, state, label, inp):
    for line in inp:
        interface.output(0).add(line.strip(), 1)


def test_bare_tag_name_is_a_tag(shared_cluster):
    DDFS().push("inputs:bare", [(io.BytesIO(b"one\ntwo\n"), "blob")])
    job = Job().run(input=["inputs:bare"], map=line_map)
    assert sorted(result_iterator(job.wait(timeout=90))) == [(b"one", 1), (b"two", 1)]


def test_bare_name_that_is_no_tag_but_a_local_file(shared_cluster, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plainfile").write_text("x\n")
    job = Job().run(input=["plainfile"], map=line_map)   # relative: made absolute
    assert list(result_iterator(job.wait(timeout=90))) == [(b"x", 1)]
    assert job.jobpack().jobdict["input"] == [str(tmp_path / "plainfile")]


def test_bare_name_that_is_neither_says_so_at_submission(shared_cluster, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputNotFound) as caught:
        Job().run(input=["inputs:no-such-tag"], map=line_map)
    assert "no DDFS tag 'inputs:no-such-tag'" in str(caught.value)
    assert "no local file" in str(caught.value)


def test_pipeline_job_with_plain_string_inputs(shared_cluster, tmp_path):
    DDFS().push("inputs:pipeline", [(io.BytesIO(b"one\ntwo\n"), "blob")])
    paths = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.txt"
        path.write_text(f"{name}\n")
        paths.append(str(path))
    job = Job(worker=PipelineWorker()).run(input=paths + ["inputs:pipeline"],
                                           pipeline=[("split", Stage("count",
                                                                     process=line_count))])
    assert sorted(result_iterator(job.wait(timeout=90))) == [
        (b"a", 1), (b"b", 1), (b"one", 1), (b"two", 1)]
