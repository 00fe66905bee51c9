"""What tests read back from a running cluster: a job's tasks, events and result counts.

Layer: top (`disco.testing`). Plain HTTP and client calls against a master URL, shared by the
fault-tolerance tests (test modules that ship job functions cannot import each other: the
job pack's module finder would follow the import).
"""
from __future__ import annotations

import json
from typing import Any

from disco.testing.cluster import http_get


def job_tasks(master_url: str, name: str) -> list[dict]:
    """Every task of job `name` (``/disco/ctrl/jobtasks``)."""
    return json.loads(http_get(f"{master_url}/disco/ctrl/jobtasks?name={name}"))["tasks"]


def job_events(cluster: Any, name: str) -> list[str]:
    """Every event message of the job, oldest first (``"host: message"``)."""
    raw = cluster.disco.rawevents(name)
    lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    return [f"{host}: {message}" for _ts, host, message in lines]


def result_counts(master_url: str, results: list) -> dict:
    """Sum the values of a job's (key, count) results per key."""
    from disco.core import result_iterator
    found: dict = {}
    for key, count in result_iterator(results, ddfs=master_url):
        found[key] = found.get(key, 0) + count
    return found
