"""Counters per task, stage and job (docs/counters.md); pure functions, no I/O.

Each task keeps the counters of the attempt whose outputs the job uses (`Task.counters`,
set by `JobCoordinator.task_done`, stored in the task's state): a failed attempt never
reports, a retried or speculative copy replaces instead of adding. This module sums them
per stage and job, derives the figures the job page shows (records and bytes in and out,
shuffle size, skew of the largest task against the median) and renders `/metrics` lines.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Iterable

#: the engine's own groups (disco.worker.counters); every other group is a user's
ENGINE = "disco"
LABELS = "disco:labels"
#: engine counters whose spread over a stage's tasks the skew view shows
SKEW_COUNTERS = ("records_in", "bytes_in", "records_out", "cpu_ms")

Table = dict[str, dict[str, int]]


@dataclass
class TaskCounters:
    """One task's counters and where it ran."""

    task: int
    stage: str
    status: str
    host: str | None
    counters: Table


def sanitize(value: Any) -> Table:
    """A node's ``task_done`` counters as a table; anything malformed is dropped (the node
    validates COUNTERS, but a report may come from an older or foreign node)."""
    if not isinstance(value, dict):
        return {}
    table: Table = {}
    for group, names in value.items():
        if isinstance(group, str) and isinstance(names, dict):
            counts = {n: v for n, v in names.items() if isinstance(n, str)
                      and isinstance(v, int) and not isinstance(v, bool)}
            if counts:
                table[group] = counts
    return table


def from_coordinator(coordinator: Any) -> list[TaskCounters]:
    return [TaskCounters(t.id, t.stage, t.status, t.host, t.counters)
            for t in coordinator.tasks.values()]


def from_rows(rows: Iterable[dict]) -> list[TaskCounters]:
    """From the store's task rows (a job the master does not hold in memory)."""
    return [TaskCounters(int(r["task"]), r["stage"], r["status"], r["host"],
                         sanitize((r.get("state") or {}).get("counters")))
            for r in rows]


def add(total: Table, table: Table) -> None:
    for group, names in table.items():
        counts = total.setdefault(group, {})
        for name, value in names.items():
            counts[name] = counts.get(name, 0) + value


def with_derived(table: Table) -> Table:
    """Add ``disco/bytes_in`` (local + fetched), as the pages and the CLI show it."""
    engine = table.get(ENGINE)
    if engine is not None and ("bytes_local" in engine or "bytes_fetched" in engine):
        engine["bytes_in"] = engine.get("bytes_local", 0) + engine.get("bytes_fetched", 0)
    return table


def user_part(table: Table) -> Table:
    return {g: n for g, n in table.items() if g not in (ENGINE, LABELS)}


def skew(tasks: list[TaskCounters], name: str) -> dict | None:
    """Largest vs median task of one engine counter, or None when no task has it."""
    values = [(v, t.task) for t in tasks if (v := engine_value(t.counters, name)) is not None]
    if not values:
        return None
    largest, task = max(values)
    median = statistics.median(v for v, _task in values)
    return {"max": largest, "max_task": task, "median": median,
            "ratio": round(largest / median, 2) if median else None}


def engine_value(table: Table, name: str) -> int | None:
    """One engine counter of a task (``bytes_in`` derived), without copying its table."""
    engine = table.get(ENGINE)
    if engine is None:
        return None
    if name == "bytes_in" and "bytes_in" not in engine:
        if "bytes_local" not in engine and "bytes_fetched" not in engine:
            return None
        return engine.get("bytes_local", 0) + engine.get("bytes_fetched", 0)
    return engine.get(name)


def _copy(table: Table) -> Table:
    return {g: dict(n) for g, n in table.items()}


def counted(tasks: Iterable[TaskCounters]) -> list[TaskCounters]:
    """The tasks whose counters count: reported ones, not dropped."""
    return [t for t in tasks if t.counters and t.status != "dropped"]


def summarize(job: str, status: str, stage_names: list[str],
              tasks: list[TaskCounters], per_task: bool = False) -> dict:
    """The ``/disco/ctrl/counters`` reply (schema ``JobCounters`` in /openapi.json)."""
    tasks = counted(tasks)
    names = list(stage_names) + sorted({t.stage for t in tasks} - set(stage_names))
    totals: Table = {}
    stages = []
    for index, name in enumerate(names):
        members = [t for t in tasks if t.stage == name]
        table: Table = {}
        for task in members:
            add(table, task.counters)
        with_derived(table)
        add(totals, {g: n for g, n in table.items()})
        engine = table.get(ENGINE, {})
        last = index == len(names) - 1
        stages.append({
            "stage": name, "tasks": len(members), "counters": table,
            "user": user_part(table),
            "shuffle_bytes": 0 if last else engine.get("bytes_out", 0),
            "skew": {c: s for c in SKEW_COUNTERS if (s := skew(members, c)) is not None}})
    reply = {"job": job, "status": status, "tasks": len(tasks), "totals": totals,
             "user": user_part(totals), "stages": stages}
    if per_task:
        reply["per_task"] = [{"task": t.task, "stage": t.stage, "host": t.host,
                              "counters": with_derived(_copy(t.counters))} for t in tasks]
    return reply


def metric_lines(jobs: Iterable[tuple[str, Table]]) -> list[str]:
    """Prometheus lines: every counter of each job, ``disco_job_counter{job,group,name}``."""
    lines = ["# HELP disco_job_counter a job's counters (docs/counters.md), summed over its tasks",
             "# TYPE disco_job_counter gauge"]
    for job, table in jobs:
        for group, names in sorted(table.items()):
            if group == LABELS:
                continue  # one series per partition is too many for a metrics scrape
            for name, value in sorted(names.items()):
                lines.append(f'disco_job_counter{{job="{_escape(job)}",group="{_escape(group)}",'
                             f'name="{_escape(name)}"}} {value}')
    return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
