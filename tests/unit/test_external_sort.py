"""disco.worker.sort: the external merge sort behind ``sort=True`` (no cluster needed)."""
from __future__ import annotations

import os
import random

import pytest

from disco.worker.sort import disk_sort, merge_blocks

pytestmark = pytest.mark.timeout(60)

#: a budget small enough that a few thousand records spill several runs (the floor is 1 MiB)
SMALL = 1 << 20


def spilled_runs(directory) -> int:
    return len([name for name in os.listdir(directory) if name.startswith("sort-run-")])


def test_spilled_sort_is_sorted_and_stable(tmp_path):
    rng = random.Random(7)
    # few distinct keys, so equal keys straddle spills and run-file blocks
    records = [(rng.choice([b"a", b"b", b"c", b"d"]), i) for i in range(60000)]
    got = list(disk_sort(records, str(tmp_path), SMALL))
    assert got == sorted(records, key=lambda record: record[0])   # sorted() is stable
    assert not os.listdir(tmp_path)   # every run file was read and removed


def test_spills_happen_and_match_the_in_memory_sort(tmp_path):
    rng = random.Random(3)
    records = [(rng.randbytes(6), rng.randbytes(90)) for _ in range(30000)]
    spilled = disk_sort(iter(records), str(tmp_path), SMALL)
    assert spilled_runs(tmp_path) >= 3
    assert list(spilled) == sorted(records, key=lambda record: record[0])
    in_memory = disk_sort(iter(records), str(tmp_path / "big"), "512M")
    assert not (tmp_path / "big").exists()
    assert list(in_memory) == sorted(records, key=lambda record: record[0])


def test_container_values_count_their_items(tmp_path):
    """A (tag, value) record's items count against the budget: the same number of records
    spills more runs with tuple values than with the tuple's shell alone would suggest."""
    records = [(b"k%06d" % (i % 977), (b"tag", b"v" * 200)) for i in range(20000)]
    got = list(disk_sort(records, str(tmp_path), SMALL))
    assert got == sorted(records, key=lambda record: record[0])


def test_merge_blocks_keeps_run_order_for_equal_keys():
    runs = [iter([[(1, "r0a"), (2, "r0b")], [(2, "r0c"), (2, "r0d")], [(5, "r0e")]]),
            iter([[(2, "r1a")], [(2, "r1b"), (3, "r1c")]]),
            iter([]),
            iter([[(0, "r3a"), (2, "r3b"), (9, "r3c")]])]
    merged = [record for block in merge_blocks(runs) for record in block]
    assert merged == [(0, "r3a"), (1, "r0a"), (2, "r0b"), (2, "r0c"), (2, "r0d"), (2, "r1a"),
                      (2, "r1b"), (2, "r3b"), (3, "r1c"), (5, "r0e"), (9, "r3c")]


def test_merge_blocks_random_runs_match_sorted():
    rng = random.Random(11)
    runs, everything = [], []
    for run in range(9):
        records = sorted(((rng.randrange(50), run, i) for i in range(rng.randrange(0, 400))),
                         key=lambda record: record[0])
        everything += records
        size = rng.randrange(1, 40)
        runs.append(iter([records[i:i + size] for i in range(0, len(records), size)]))
    merged = [record for block in merge_blocks(runs) for record in block]
    assert merged == sorted(everything, key=lambda record: record[0])


def test_keys_that_cannot_be_compared_say_so(tmp_path):
    with pytest.raises(TypeError, match="sort=True needs keys that can be compared"):
        list(disk_sort([(b"x", 1), ("y", 2)], str(tmp_path), SMALL))
