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

import itertools
from typing import Any, Callable, Iterable, Iterator

from disco.worker import counters
from disco.worker.classic.func import default_partition

#: memoized labels per task before the memo is cleared (bounds memory with unique keys)
MEMO_LIMIT = 1 << 20
_TEXT = (bytes, str)


def labeller(partition: Callable, partitions: Any, params: Any) -> Callable[[Any], Any]:
    """:return: ``label(key)`` -- the output label of a key (None when not partitioned)."""
    constant, value = constant_label(partition, partitions)
    if constant:
        return lambda key: value
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


def constant_label(partition: Callable, partitions: Any) -> tuple[bool, Any]:
    """``(True, label)`` when every key gets the same label: not partitioned (None), or
    Disco's default partition into one partition (``persistent_hash(key) % 1`` is 0)."""
    if not partitions:
        return True, None
    if partitions == 1 and partition is default_partition:
        return True, 0
    return False, None


def map_summed(entries: Iterable, fun_map: Callable, params: Any, partition: Callable,
               partitions: Any, adder: Callable) -> None:
    """``map`` with ``sum_combiner``: what `Worker.map_combined` does, without a partition
    and a combiner call per pair."""
    constant = constant_label(partition, partitions)[0]
    # no count of the pairs here: this loop is the hottest of a word count, and counting them
    # (even in C, alongside) cost ~15 % of it; combiner_out is free
    pairs = map_pairs(entries, fun_map, params)
    if constant or partition is default_partition:
        # one running total per key, split by label at the end (labels are a function of the
        # key); exact while keys are text or there is one label (see _sum_text_keys)
        totals, rest = _sum_text_keys(pairs, text_only=not constant)
        label = labeller(partition, partitions, params)
        buffers: dict = {}
        for key, total in totals.items():
            buffers.setdefault(label(key), {})[key] = total
        if rest is not None:
            _sum_by_label(rest, buffers, label)
    else:
        buffers = {}
        _sum_by_label(pairs, buffers, labeller(partition, partitions, params))
    counters.engine('combiner_out', sum(map(len, buffers.values())))
    for label_, buffer in buffers.items():
        add = adder(label_)
        for key, total in buffer.items():
            add(key, total)


def _sum_text_keys(pairs: Iterator, text_only: bool) -> tuple[dict, Any]:
    """Sum the values of each key (``int(value)``, as sum_combiner).

    With `text_only` (several labels) every key entering the table is checked to be exactly
    ``bytes`` or ``str``: such keys equal only keys of their own type and label, so one table
    holds what sum_combiner's per-label buffers would (``1``, ``1.0`` and ``True`` are equal
    but have different labels). Only new keys are checked -- a repeated key is found equal to
    a checked one. At the first other key the rest of the pairs is returned (that key first)
    for the per-label path; else (totals, None).
    """
    totals: dict = {}
    get = totals.get
    for key, value in pairs:
        total = get(key)
        if total is not None:
            totals[key] = total + int(value)
        elif not text_only or type(key) is bytes or type(key) is str:
            totals[key] = 0 + int(value)
        else:
            return totals, itertools.chain([(key, value)], pairs)
    return totals, None


def map_pairs(entries: Iterable, fun_map: Callable, params: Any) -> Iterator:
    """Every ``(key, value)`` of ``fun_map(entry, params)`` for each entry, in order, each
    entry mapped when its pairs are reached: the two-level loop run by C iterators (a
    Python loop over the entries cost a frame step per input line)."""
    return itertools.chain.from_iterable(map(fun_map, entries, itertools.repeat(params)))



def _sum_by_label(pairs: Iterable, buffers: dict, label: Callable) -> None:
    """sum_combiner's per-label buffers: ``buffers[label(key)][key] += int(value)``."""
    for key, value in pairs:
        tag = label(key)
        buffer = buffers.get(tag)
        if buffer is None:
            buffer = buffers[tag] = {}
        buffer[key] = buffer.get(key, 0) + int(value)




def map_one_buffer(entries: Iterable, fun_map: Callable, params: Any, combiner: Callable,
                   label: Any, adder: Callable) -> None:
    """``map`` with a job's combiner when every pair gets the same label: `map_combined`
    with one buffer and no label lookup per pair. As there, the final ``done`` call happens
    only if the map produced a pair."""
    buffer: dict = {}
    out = pairs = 0
    for key, value in map_pairs(entries, fun_map, params):
        pairs += 1  # beside a Python combiner call per pair: a few percent at most
        records = combiner(key, value, buffer, False, params)
        if records:  # None (or empty) for most pairs: nothing to iterate
            for record in records:
                out += 1
                adder(label)(*record)
    if pairs:
        for record in combiner(None, None, buffer, True, params) or ():
            out += 1
            adder(label)(*record)
    counters.engine('combiner_in', pairs)
    counters.engine('combiner_out', out)
