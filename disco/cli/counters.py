"""Text view of a job's counters for `disco counters JOB` (docs/counters.md)."""
from __future__ import annotations

from typing import Iterator

#: the per-stage columns: (heading, engine counter)
STAGE_COLUMNS = (("tasks", None), ("records in", "records_in"), ("bytes in", "bytes_in"),
                 ("fetched", "bytes_fetched"), ("records out", "records_out"),
                 ("bytes out", "bytes_out"), ("cpu s", "cpu_ms"))


def render(summary: dict) -> str:
    return "\n".join(lines(summary)) + "\n"


def lines(summary: dict) -> Iterator[str]:
    yield f"{summary['job']} ({summary['status']}): counters of {summary['tasks']} task(s)"
    rows = [[heading for heading, _name in STAGE_COLUMNS]]
    for stage in summary["stages"]:
        engine = stage["counters"].get("disco", {})
        row = [str(stage["tasks"])]
        for _heading, name in STAGE_COLUMNS[1:]:
            value = engine.get(name)
            row.append("-" if value is None else
                       f"{value / 1000:.2f}" if name == "cpu_ms" else str(value))
        rows.append([stage["stage"]] + row)
    rows[0] = ["stage"] + rows[0]
    yield from table(rows)
    for stage in summary["stages"]:
        if stage["shuffle_bytes"]:
            yield f"shuffle after {stage['stage']}: {stage['shuffle_bytes']} bytes"
        for name, skew in sorted(stage["skew"].items()):
            if skew.get("ratio") and skew["ratio"] >= 1.5:
                yield (f"skew in {stage['stage']}: {name} of task {skew['max_task']} is "
                       f"{skew['max']} vs median {skew['median']:g} (x{skew['ratio']})")
    user = summary["user"]
    if user:
        yield ""
        yield from table([["group", "counter", "value"]] +
                         [[group, name, str(value)] for group in sorted(user)
                          for name, value in sorted(user[group].items())])


def table(rows: list[list[str]]) -> Iterator[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        yield "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                        for i, (cell, width) in enumerate(zip(row, widths))).rstrip()
