"""The COUNTERS message: the node's session state (pure) and a worker that does not use
disco's Python worker, on a real cluster."""
from __future__ import annotations

import json
import os
import urllib.request

import pytest

from disco.node import counters as node_counters
from disco.node.protocol import KIND_FATAL, MessageThrottle, Reply, Stop, TaskInfo, TaskSession
from tests.counters.test_counters import HOSTS, SETTINGS, get_counters
from tests.worker_protocol import jobpack_for

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "foreign_worker.py")


def session() -> TaskSession:
    info = TaskInfo(job="J", task=0, attempt=0, stage="map", grouping="split", group=[0, None],
                    host="h", master="http://m", disco_port=1, put_port=2, ddfs_data="/d",
                    disco_data="/e", jobfile="/j")
    return TaskSession(info, [], True, MessageThrottle(5, 10))


def send(s: TaskSession, payload) -> Reply | Stop:
    return s.handle("COUNTERS", json.dumps(payload).encode())


def test_counters_add_up_per_attempt():
    s = session()
    assert send(s, {"g": {"a": 1, "b": 2}}) == Reply("OK", "ok")
    assert send(s, {"g": {"a": 3}, "h": {"c": -1}}) == Reply("OK", "ok")
    assert s.counters == {"g": {"a": 4, "b": 2}, "h": {"c": -1}}


@pytest.mark.parametrize("payload, needle", [
    ([1, 2], "expected an object"),
    ({"g": 3}, "expected an object"),
    ({"g": {"a": "1"}}, "expected an integer"),
    ({"g": {"a": True}}, "expected an integer"),
    ({"g": {"a": 1.5}}, "expected an integer"),
    ({"g": {"x" * 300: 1}}, "longer than"),
])
def test_invalid_counters_fail_the_job_with_a_reason(payload, needle):
    outcome = send(session(), payload)
    assert isinstance(outcome, Stop) and outcome.kind == KIND_FATAL and outcome.warn
    assert "COUNTERS" in outcome.message and needle in outcome.message


def test_too_many_counters_is_refused():
    s = session()
    outcome = send(s, {"g": {str(i): 1 for i in range(node_counters.MAX_COUNTERS + 1)}})
    assert isinstance(outcome, Stop) and "Too many counters" in outcome.message


def foreign_jobpack(inputs: list[str]) -> bytes:
    return jobpack_for(WORKER, "Foreign", [["map", "split"]], inputs)


@pytest.mark.timeout(120)
def test_a_foreign_worker_reports_counters(cluster):
    local = cluster(hosts=HOSTS, workers=2, settings=SETTINGS)
    request = urllib.request.Request(f"{local.master_url}/disco/job/new",
                                     data=foreign_jobpack(["raw://a", "raw://b", "raw://c"]),
                                     method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:
        status, name = json.loads(reply.read())
    assert status == "ok", name
    local.disco.wait(name, timeout=60)
    summary = get_counters(local, name)
    assert summary["user"] == {"foreign": {"inputs": 6, "tasks": 3}}, summary
    assert summary["totals"]["disco"]["records_in"] == 30
