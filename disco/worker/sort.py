"""
:mod:`disco.worker.sort` -- external merge sort of key/value records
====================================================================

Used for ``sort=True`` (classic reduce) and ``Stage(sort=True)``.  Disco ran
Unix ``sort`` over an escaped text file; here records are sorted by key in
memory up to the buffer size, spilled as pickled runs into the task
directory and merged a block at a time (:func:`merge_blocks`).  Byte keys sort in byte order
(as ``LC_ALL=C sort``); any mutually comparable keys work.
"""
from __future__ import annotations

import os
import pickle
import sys
from bisect import bisect_left
from itertools import chain, islice
from operator import itemgetter
from typing import Any, Iterable, Iterator

from disco.worker import counters

#: Records pickled together in one run-file block.
BLOCK_RECORDS = 4096
#: Records counted against the buffer size together (one C-level pass each).
ACCOUNT_RECORDS = 1024
#: Bytes of bookkeeping counted per record on top of the key and value sizes: the
#: record tuple (56) and its slot in the buffer list (8).
RECORD_OVERHEAD = 64
#: Most memory a percentage buffer size (Disco's default ``'10%'``) stands for: 10 % of a
#: large machine let one reduce hold gigabytes in memory (the join reduce: 877 MiB RSS on a
#: 24 GiB machine) where spilling sorted runs costs little.
MAX_PERCENT_BUFFER = 512 << 20
#: Share of the worker's address-space limit (``DISCO_WORKER_MAX_MEM``, RLIMIT_AS) the sort
#: buffer may use: the interpreter, the merge and the job's own data need the rest.
RLIMIT_SHARE = 4
_UNITS = {'b': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40}
_first = itemgetter(0)
_second = itemgetter(1)
_CONTAINERS = frozenset((tuple, list))


def parse_buffer_size(spec: Any) -> int:
    """``sort -S`` syntax: ``'10%'`` of physical memory (at most
    :data:`MAX_PERCENT_BUFFER`), ``'512M'``, ``'2G'``, or a number (KiB, as ``sort``); an
    int is taken as bytes."""
    if isinstance(spec, (int, float)):
        return max(int(spec), 1 << 20)
    text = str(spec).strip().lower()
    if text.endswith('%'):
        share = int(physical_memory() * float(text[:-1]) / 100)
        return max(min(share, MAX_PERCENT_BUFFER), 1 << 20)
    if text and text[-1] in _UNITS:
        return max(int(float(text[:-1]) * _UNITS[text[-1]]), 1 << 20)
    return max(int(float(text) * 1024), 1 << 20)


def sort_budget(spec: Any) -> int:
    """The buffer size for ``spec``, within a share of this process's RLIMIT_AS (the job's
    ``DISCO_WORKER_MAX_MEM``): a buffer larger than the limit allows ends in MemoryError."""
    budget = parse_buffer_size(spec)
    limit = _address_space_limit()
    if limit:
        budget = min(budget, max(limit // RLIMIT_SHARE, 1 << 20))
    return budget


def _address_space_limit() -> int:
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, ValueError, OSError):
        return 0
    return 0 if soft == resource.RLIM_INFINITY or soft < 0 else soft


def physical_memory() -> int:
    try:
        return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    except (ValueError, OSError, AttributeError):
        return 1 << 30


def _sorted(records: list) -> list:
    try:
        records.sort(key=_first)
    except TypeError as error:
        raise TypeError("sort=True needs keys that can be compared with each other: "
                        "{0}".format(error)) from None
    return records


def _write_run(records: list, path: str) -> None:
    with open(path, 'wb') as run:
        for start in range(0, len(records), BLOCK_RECORDS):
            pickle.dump(records[start:start + BLOCK_RECORDS], run, pickle.HIGHEST_PROTOCOL)


def _read_blocks(path: str) -> Iterator[list]:
    """The sorted blocks of one run file, in order; the file is removed once read."""
    with open(path, 'rb') as run:
        while True:
            try:
                yield pickle.load(run)
            except EOFError:
                break
    os.unlink(path)


def disk_sort(records: Iterable, directory: str, buffer_size: Any = '10%') -> Iterator:
    """:return: an iterator over ``records`` sorted by their first item (key), stable: records
    with equal keys keep their input order, spilled or not."""
    budget = sort_budget(buffer_size)
    runs: list = []
    buffer: list = []
    used = 0
    source = iter(records)
    while True:
        # a chunk at a time: the size accounting runs in C (map over the chunk), not as
        # Python bytecode per record (0.6 us of the 2 us a spilled record cost)
        chunk = list(islice(source, ACCOUNT_RECORDS))
        if not chunk:
            break
        buffer += chunk
        used += _chunk_size(chunk)
        if used > budget:
            runs.append(_spill(buffer, directory, len(runs)))
            buffer, used = [], 0
    if not runs:
        return iter(_sorted(buffer))
    if buffer:
        runs.append(_spill(buffer, directory, len(runs)))
    return chain.from_iterable(merge_blocks([_read_blocks(path) for path in runs]))


def _chunk_size(chunk: list) -> int:
    """Estimated bytes ``chunk``'s records hold: key and value sizes plus the record's own
    tuple and list slot. getsizeof of a tuple/list is its shell only (a join's (tag, value)
    records were estimated at 163 B against 204 B measured), so containers count one level of
    their items."""
    sizeof = sys.getsizeof
    keys = list(map(_first, chunk))
    values = list(map(_second, chunk))
    used = sum(map(sizeof, keys)) + sum(map(sizeof, values)) + RECORD_OVERHEAD * len(chunk)
    for items in (keys, values):
        if not _CONTAINERS.isdisjoint(map(type, items)):
            used += sum(sum(map(sizeof, item)) for item in items if type(item) in _CONTAINERS)
    return used


def merge_blocks(runs: list[Iterator[list]]) -> Iterator[list]:
    """Merge sorted runs, each given as an iterator of sorted blocks, into sorted blocks.

    A round takes from every run the records whose key is below the smallest last key of the
    runs' current blocks -- every record below that bound is already in memory, as each run's
    later records have larger keys -- and sorts them at once (timsort merges the sorted pieces
    in C; heapq.merge cost a Python step per record). Equal keys come out in run order, so the
    merge is stable like the in-memory sort."""
    active = []   # [pending records, the run's block iterator or None when exhausted]
    for blocks in runs:
        first = next(blocks, None)
        if first:
            active.append([first, blocks])
    while active:
        open_runs = [run for run in active if run[1] is not None]
        if not open_runs:
            yield _sorted([record for run in active for record in run[0]])
            return
        bound = min(run[0][-1][0] for run in open_runs)
        taken = []
        for run in active:
            pending = run[0]
            cut = bisect_left(pending, bound, key=_first)
            if cut:
                taken += pending[:cut]
                del pending[:cut]
        if taken:
            yield _sorted(taken)
        _refill(active, bound)
        active = [run for run in active if run[0] or run[1] is not None]


def _refill(active: list, bound: Any) -> None:
    """Give each open run whose pending records all have the key ``bound`` its next block, so
    the next round's bound moves on (or the run ends)."""
    for run in active:
        pending, blocks = run
        if blocks is not None and (not pending or not pending[-1][0] > bound):
            block = next(blocks, None)
            if block is None:
                run[1] = None
            else:
                pending += block


def _spill(buffer: list, directory: str, index: int) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, 'sort-run-{0}'.format(index))
    _write_run(_sorted(buffer), path)
    counters.engine('records_spilled', len(buffer))
    counters.engine('bytes_spilled', os.path.getsize(path))
    return path
