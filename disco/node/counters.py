"""The COUNTERS worker-protocol message, node side (docs/counters.md).

Pure (no I/O). A worker the node granted the message (``DISCO_WORKER_COUNTERS=1`` in its
environment) may send ``COUNTERS {"group": {"name": n, ...}, ...}`` any number of times; each
message adds its values to the attempt's table, which goes to the master with ``task_done``
(field ``counters``). Workers that never send it (Disco's own) are unaffected.
"""
from __future__ import annotations

from typing import Any

#: what the node puts in every worker's environment to grant the message
GRANT = {"DISCO_WORKER_COUNTERS": "1"}
#: limits that keep one task's counters small enough for the master's store
MAX_NAME = 200
MAX_COUNTERS = 2000
#: the largest value a counter may hold (JSON integers beyond this lose precision elsewhere)
MAX_VALUE = 2 ** 63 - 1


def check(payload: Any) -> str:
    """The problem with a COUNTERS payload, or "" when it is valid."""
    if not isinstance(payload, dict):
        return f"expected an object {{group: {{name: integer}}}}, got {payload!r}"[:500]
    for group, names in payload.items():
        if not isinstance(names, dict):
            return f"group {group!r}: expected an object {{name: integer}}"[:500]
        if len(group) > MAX_NAME:
            return f"group name longer than {MAX_NAME} characters: {group[:50]!r}..."
        for name, value in names.items():
            if len(name) > MAX_NAME:
                return f"counter name longer than {MAX_NAME} characters: {name[:50]!r}..."
            if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_VALUE:
                return f"counter {group}/{name}: expected an integer, got {value!r}"[:500]
    return ""


def merge(table: dict[str, dict[str, int]], payload: dict[str, dict[str, int]]) -> str:
    """Add a valid payload's values to `table`; the problem if the table grows too large."""
    for group, names in payload.items():
        counts = table.setdefault(group, {})
        for name, value in names.items():
            counts[name] = counts.get(name, 0) + value
    size = sum(len(names) for names in table.values())
    if size > MAX_COUNTERS:
        return (f"Too many counters: {size} in one task (at most {MAX_COUNTERS}); "
                "use fewer distinct counter names")
    return ""
