"""The node's Prometheus metrics: counters fed by task outcomes, served on every node."""
from __future__ import annotations

import urllib.request

import pytest

from disco.core import Job, result_iterator
from disco.node.metrics import NodeMetrics
from disco.protocol import cluster


def test_counters_follow_task_outcomes():
    clock = iter([10.0, 12.5, 20.0, 21.0])
    metrics = NodeMetrics("h1", now=lambda: next(clock))
    metrics.task_started(("j", 1, 0))
    metrics.observe(cluster.task_done("j", 1, 0, []))
    metrics.task_started(("j", 2, 0))
    metrics.observe(cluster.task_failed("j", 2, 0, cluster.KIND_FATAL, "boom"))
    metrics.observe({"op": cluster.EVENT, "job": "j", "message": "MSG: ignored"})
    text = metrics.render(running=3, disk_free_kb=2, disk_used_kb=1)
    assert 'disco_node_tasks_running{host="h1"} 3' in text
    assert 'disco_node_tasks_done_total{host="h1"} 1' in text
    assert 'disco_node_task_failures_total{host="h1",kind="fatal"} 1' in text
    assert 'disco_node_task_failures_total{host="h1",kind="error"} 0' in text
    assert 'disco_node_task_seconds_total{host="h1"} 3.5' in text
    assert 'disco_node_ddfs_bytes_free{host="h1"} 2048' in text


def fun_map(line, params):
    yield line, 1


@pytest.mark.timeout(120)
def test_every_node_serves_metrics_after_a_job(shared_cluster):
    job = Job().run(input=["raw://a", "raw://b", "raw://c", "raw://d"], map=fun_map)
    assert sorted(k for k, _v in result_iterator(job.wait(timeout=60))) == ["a", "b", "c", "d"]
    done = 0
    for host in shared_cluster.hosts:
        url = f"http://{host}:{shared_cluster.put_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        assert "# TYPE disco_node_tasks_done_total counter" in text
        line = next(
            row for row in text.splitlines() if row.startswith("disco_node_tasks_done_total")
        )
        done += int(line.rsplit(" ", 1)[1])
    assert done >= 4  # four map tasks (and shuffles) ran somewhere on the cluster
