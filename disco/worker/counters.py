"""
:mod:`disco.worker.counters` -- counters a task reports with its results
========================================================================

Two kinds, one table per task: *user counters* that job code increments with
:func:`counter` (``counter('quality', 'malformed')``), and *engine counters* that the
worker keeps itself in the group ``disco`` (input/output records and bytes, combiner
records, sort spills, CPU seconds, peak memory; docs/counters.md lists them). The engine
counts per input, hunk or batch -- never with a Python operation per record.

Before ``DONE`` the worker sends what it counted in one ``COUNTERS`` message
(docs/counters.md "The COUNTERS message"), but only when the node granted it with
``DISCO_WORKER_COUNTERS=1`` in the worker's environment: a node that does not know the
message (Disco's own) never receives it, and counting stays a cheap dict update.
"""
from __future__ import annotations

import os
import resource
from typing import Any, Callable

#: the group of the counters the engine keeps itself
ENGINE = 'disco'
#: the group of the engine's per-label output counters (``<label>.records``, ``<label>.bytes``)
LABELS = 'disco:labels'
#: the environment variable by which a node grants the COUNTERS message
GRANT_ENV = 'DISCO_WORKER_COUNTERS'
#: the protocol message name
MESSAGE = 'COUNTERS'

#: (group, name) -> value, for the task this process runs
_values: dict[tuple[str, str], int] = {}
#: process CPU seconds when the task started (a forked worker inherits its parent's)
_cpu_start = 0.0


def counter(group: str, name: str, n: int = 1) -> None:
    """Add ``n`` to the counter ``group``/``name`` of the running task (summed over the
    job's tasks by the master; a retried task counts once)."""
    key = (str(group), str(name))
    _values[key] = _values.get(key, 0) + int(n)


increment_counter = counter  # mrjob's name
count = counter


def engine(name: str, n: int) -> None:
    """Add ``n`` to the engine counter ``disco``/``name`` (called per input or hunk)."""
    key = (ENGINE, name)
    _values[key] = _values.get(key, 0) + n


def engine_max(name: str, n: int) -> None:
    """Keep the largest ``n`` seen for the engine counter ``disco``/``name``."""
    key = (ENGINE, name)
    if n > _values.get(key, 0):
        _values[key] = n


def reset() -> None:
    """Start counting for a new task (a forked worker must not report its parent's)."""
    global _cpu_start
    _values.clear()
    _cpu_start = _cpu_seconds()


def values() -> dict[str, dict[str, int]]:
    """What the task counted: ``{group: {name: value}}``."""
    table: dict[str, dict[str, int]] = {}
    for (group, name), value in _values.items():
        table.setdefault(group, {})[name] = value
    return table


def granted(environ: Any = None) -> bool:
    """Whether the node accepts the COUNTERS message."""
    return (os.environ if environ is None else environ).get(GRANT_ENV) == '1'


def report(send: Callable[[str, Any], Any]) -> None:
    """Add the process's resource use and send the task's counters, if the node takes them."""
    if not granted():
        return
    add_resources()
    table = values()
    if table:
        send(MESSAGE, table)


def add_resources() -> None:
    """CPU seconds (milliseconds, as integers) and peak memory (KiB) of this worker."""
    engine('cpu_ms', int((_cpu_seconds() - _cpu_start) * 1000))
    engine_max('peak_memory_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
