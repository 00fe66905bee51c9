"""Prometheus text exposition (format 0.0.4) of the master's state, for `/metrics`.

Pure functions over the same JSON the REST API returns (nodeinfo, joblist, jobinfo
pipelines), so the metrics and the pages cannot disagree. The master mounts the route.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, object]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


class _Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name, self.kind, self.help = name, kind, help_text
        self.samples: list[tuple[dict, float]] = []

    def add(self, value: float, **labels: object) -> None:
        self.samples.append((labels, value))

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines += [
            f"{self.name}{_labels(labels)} {float(value):g}" for labels, value in self.samples
        ]
        return "\n".join(lines)


def render_metrics(nodeinfo: Mapping[str, Mapping], joblist: Iterable[list],
                   pipelines: Mapping[str, list] | None = None) -> str:
    """Render metrics from `/disco/ctrl/nodeinfo`, `/disco/ctrl/joblist` and optional
    `{job: jobinfo["pipeline"]}` for the active jobs."""
    up = _Family("disco_node_up", "gauge", "1 if the node is connected to the master")
    blacklisted = _Family(
        "disco_node_blacklisted", "gauge", "1 if the node is on the Disco blacklist"
    )
    slots = _Family("disco_node_worker_slots", "gauge", "configured worker slots (max_workers)")
    busy = _Family("disco_node_busy_slots", "gauge", "slots running a task")
    tasks = _Family(
        "disco_node_tasks_total", "counter", "finished tasks by outcome (job_ok, data_error, error)"
    )
    disk = _Family("disco_node_ddfs_bytes", "gauge", "DDFS disk space by state (used, free)")
    for host, info in sorted(nodeinfo.items()):
        up.add(1 if info.get("connected") else 0, host=host)
        blacklisted.add(1 if info.get("blacklisted") else 0, host=host)
        slots.add(info.get("max_workers", 0), host=host)
        busy.add(len(info.get("tasks", [])), host=host)
        for outcome in ("job_ok", "data_error", "error"):
            tasks.add(info.get(outcome, 0), host=host, outcome=outcome)
        for state, key in (("used", "diskused"), ("free", "diskfree")):
            if key in info:
                disk.add(int(info[key]) * 1024, host=host, state=state)
    jobs = _Family("disco_jobs", "gauge", "jobs known to the master by status")
    counts = Counter(entry[1] for entry in joblist)
    for status in ("active", "ready", "dead"):
        jobs.add(counts.get(status, 0), status=status)
    families = [up, blacklisted, slots, busy, tasks, disk, jobs]
    if pipelines:
        stage_tasks = _Family(
            "disco_stage_tasks", "gauge", "tasks of an active job's stage by state"
        )
        for job, pipeline in sorted(pipelines.items()):
            for stage, *numbers in pipeline:
                for state, value in zip(
                    ("pending", "waiting", "running", "done", "failed"), numbers
                ):
                    stage_tasks.add(value, job=job, stage=stage, state=state)
        families.append(stage_tasks)
    return "\n".join(family.render() for family in families) + "\n"
