"""
:mod:`disco.worker.classic.fastpath` -- the classic map's hot loops without per-pair overhead
============================================================================================

A classic map task calls, per ``(key, value)`` pair: the job's ``map``, the ``partition``
function (Disco's default one md5-hashes the key) and the ``combiner``.  Word count emits one
pair per word (tens of millions), so these calls dominate.  Here:

* :func:`labeller` memoizes Disco's *default* partition per key within a task: keys repeat
  heavily, and the label of a key is a pure function of it, so the labels are the very same
  numbers with one md5 per distinct key.  Only ``str``/``bytes`` keys are memoized: keys that
  compare equal but differ in ``repr`` (``1``, ``1.0``, ``True``) hash to different labels.
  A job's own partition function is called for every pair, as in Disco (it may keep state).
* :func:`map_summed` runs ``map`` + :func:`~disco.worker.classic.func.sum_combiner` with the
  combiner inlined: the same per-label totals, output in the same order (each label's keys in
  first-seen order), the same ``int(value)`` conversion.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from disco.worker.classic.func import default_partition

#: memoized labels per task before the memo is cleared (bounds memory with unique keys)
MEMO_LIMIT = 1 << 20
_TEXT = (bytes, str)


def labeller(partition: Callable, partitions: Any, params: Any) -> Callable[[Any], Any]:
    """:return: ``label(key)`` -- the output label of a key (None when not partitioned)."""
    if not partitions:
        return lambda key: None
    if partition is not default_partition:
        return lambda key: int(partition(key, partitions, params))
    memo: dict = {}

    def label(key: Any) -> int:
        if type(key) not in _TEXT:
            return int(default_partition(key, partitions, params))
        value = memo.get(key)
        if value is None:
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            value = memo[key] = int(default_partition(key, partitions, params))
        return value
    return label


def map_summed(entries: Iterable, fun_map: Callable, params: Any, partition: Callable,
               partitions: Any, adder: Callable) -> None:
    """``map`` with ``sum_combiner``: what `Worker.map_combined` does, without a partition
    and a combiner call per pair."""
    pairs = (pair for entry in entries for pair in fun_map(entry, params))
    if not partitions or partition is default_partition:
        # one running total per key, split by label at the end (labels are a function of the
        # key); exact while keys are text or there is one label (see _mixed_keys)
        totals, rest = _sum_text_keys(pairs, bool(partitions))
        label = labeller(partition, partitions, params)
        buffers: dict = {}
        for key, total in totals.items():
            buffers.setdefault(label(key), {})[key] = total
        if rest is not None:
            _sum_by_label(rest, buffers, label)
    else:
        buffers = {}
        _sum_by_label(pairs, buffers, labeller(partition, partitions, params))
    for label_, buffer in buffers.items():
        add = adder(label_)
        for key, total in buffer.items():
            add(key, total)


def _sum_text_keys(pairs: Iterable, text_only: bool) -> tuple[dict, Any]:
    """Sum values per key until the first non-text key (when `text_only`); :return: the
    totals and the pairs left (that key first), or None when all were summed."""
    totals: dict = {}
    get = totals.get
    if not text_only:
        for key, value in pairs:
            totals[key] = get(key, 0) + int(value)
        return totals, None
    for key, value in pairs:
        if type(key) is bytes or type(key) is str:
            totals[key] = get(key, 0) + int(value)
        else:
            return totals, _chain_one((key, value), pairs)
    return totals, None


def _sum_by_label(pairs: Iterable, buffers: dict, label: Callable) -> None:
    """sum_combiner's per-label buffers: ``buffers[label(key)][key] += int(value)``."""
    for key, value in pairs:
        tag = label(key)
        buffer = buffers.get(tag)
        if buffer is None:
            buffer = buffers[tag] = {}
        buffer[key] = buffer.get(key, 0) + int(value)


def _chain_one(first: Any, rest: Iterable) -> Iterable:
    yield first
    yield from rest
