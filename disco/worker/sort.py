"""
:mod:`disco.worker.sort` -- external merge sort of key/value records
====================================================================

Used for ``sort=True`` (classic reduce) and ``Stage(sort=True)``.  Disco ran
Unix ``sort`` over an escaped text file; here records are sorted by key in
memory up to the buffer size, spilled as pickled runs into the task
directory and merged with :func:`heapq.merge`.  Byte keys sort in byte order
(as ``LC_ALL=C sort``); any mutually comparable keys work.
"""
from __future__ import annotations

import heapq
import os
import pickle
import sys
from operator import itemgetter
from typing import Any, Iterable, Iterator

#: Records pickled together in one run-file block.
BLOCK_RECORDS = 4096
#: Bytes of bookkeeping counted per record on top of the key and value sizes.
RECORD_OVERHEAD = 64
_UNITS = {'b': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40}
_first = itemgetter(0)


def parse_buffer_size(spec: Any) -> int:
    """``sort -S`` syntax: ``'10%'`` of physical memory, ``'512M'``, ``'2G'``, or a
    number (KiB, as ``sort``); an int is taken as bytes."""
    if isinstance(spec, (int, float)):
        return max(int(spec), 1 << 20)
    text = str(spec).strip().lower()
    if text.endswith('%'):
        return max(int(physical_memory() * float(text[:-1]) / 100), 1 << 20)
    if text and text[-1] in _UNITS:
        return max(int(float(text[:-1]) * _UNITS[text[-1]]), 1 << 20)
    return max(int(float(text) * 1024), 1 << 20)


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


def _read_run(path: str) -> Iterator:
    with open(path, 'rb') as run:
        while True:
            try:
                block = pickle.load(run)
            except EOFError:
                break
            yield from block
    os.unlink(path)


def disk_sort(records: Iterable, directory: str, buffer_size: Any = '10%') -> Iterator:
    """:return: an iterator over ``records`` sorted by their first item (key)."""
    budget = parse_buffer_size(buffer_size)
    sizeof = sys.getsizeof
    runs: list = []
    buffer: list = []
    used = 0
    for record in records:
        buffer.append(record)
        used += sizeof(record[0]) + sizeof(record[1]) + RECORD_OVERHEAD
        if used > budget:
            runs.append(_spill(buffer, directory, len(runs)))
            buffer, used = [], 0
    if not runs:
        return iter(_sorted(buffer))
    if buffer:
        runs.append(_spill(buffer, directory, len(runs)))
    return heapq.merge(*[_read_run(path) for path in runs], key=_first)


def _spill(buffer: list, directory: str, index: int) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, 'sort-run-{0}'.format(index))
    _write_run(_sorted(buffer), path)
    return path
