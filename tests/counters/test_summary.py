"""The master's sums of counters (pure: disco/master/counters.py) and the CLI's text view."""
from __future__ import annotations

from disco.cli.counters import render
from disco.master import counters as c


def task(i, stage, status="done", **engine):
    return c.TaskCounters(i, stage, status, "h", {"disco": engine, "user": {"n": 1}})


def test_sums_per_stage_and_job_and_skew():
    tasks = [task(0, "map", records_in=10, bytes_local=100, records_out=4, bytes_out=40),
             task(1, "map", records_in=30, bytes_fetched=300, records_out=6, bytes_out=60),
             task(2, "map", records_in=20, bytes_local=200, records_out=5, bytes_out=50),
             task(3, "reduce", records_in=15, records_out=3),
             task(4, "map", status="dropped", records_in=1000)]
    summary = c.summarize("J", "ready", ["map", "reduce"], tasks)
    maps, reduces = summary["stages"]
    assert maps["tasks"] == 3 and maps["counters"]["disco"]["records_in"] == 60
    assert maps["counters"]["disco"]["bytes_in"] == 600
    assert maps["shuffle_bytes"] == 150 and reduces["shuffle_bytes"] == 0
    assert maps["skew"]["records_in"] == {"max": 30, "max_task": 1, "median": 20, "ratio": 1.5}
    assert maps["skew"]["bytes_in"]["max"] == 300
    assert summary["user"] == {"user": {"n": 4}} and summary["tasks"] == 4
    assert summary["totals"]["disco"]["records_out"] == 18
    assert "per_task" not in summary
    assert len(c.summarize("J", "ready", ["map"], tasks, per_task=True)["per_task"]) == 4


def test_malformed_reports_are_dropped():
    assert c.sanitize({"g": {"a": 1, "b": "x", "c": True}, "h": [], 3: {}}) == {"g": {"a": 1}}
    assert c.sanitize(None) == {} and c.sanitize([1]) == {}


def test_metric_lines_escape_and_leave_out_labels():
    lines = c.metric_lines([('J"1', {"g": {"a\\b": 2}, "disco:labels": {"0.bytes": 1}})])
    assert 'disco_job_counter{job="J\\"1",group="g",name="a\\\\b"} 2' in lines
    assert not any("labels" in line for line in lines[2:])


def test_text_view_lists_stages_skew_and_user_counters():
    tasks = [task(0, "map", records_in=10, cpu_ms=1500), task(1, "map", records_in=40),
             task(2, "map", records_in=10)]
    text = render(c.summarize("J", "ready", ["map"], tasks))
    assert "J (ready): counters of 3 task(s)" in text
    assert "skew in map: records_in of task 1 is 40 vs median 10 (x4.0)" in text
    assert "1.50" in text and "user" in text.splitlines()[-1]
