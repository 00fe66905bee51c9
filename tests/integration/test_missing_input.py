"""A job whose input does not exist fails at once, naming the input (no endless retries)."""
from __future__ import annotations

import time

import pytest

from disco.core import Job
from disco.error import JobError


def fun_map(line, params):
    yield line, 1


@pytest.mark.timeout(120)
@pytest.mark.parametrize("missing", ["/nonexistent/disco-input.txt", "file:///nonexistent/x.txt"])
def test_missing_input_fails_the_job_naming_it(shared_cluster, missing):
    started = time.monotonic()
    job = Job().run(input=[missing], map=fun_map)
    with pytest.raises(JobError) as caught:
        job.wait(timeout=90)
    message = str(caught.value)
    assert "Status dead" in message and "Input not found" in message, message
    assert "/nonexistent/" in message, message
    assert time.monotonic() - started < 60  # failed outright, not after max_failure_rate retries


@pytest.mark.timeout(120)
def test_missing_http_input_fails_the_job_naming_it(shared_cluster):
    missing = f"{shared_cluster.master_url}/disco/no-such-host/no-such-file"
    job = Job().run(input=[missing], map=fun_map)
    with pytest.raises(JobError) as caught:
        job.wait(timeout=90)
    assert "Input not found" in str(caught.value) and missing in str(caught.value)
