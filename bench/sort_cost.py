"""CPU of the external sort per spilled record (disco.worker.sort.disk_sort), no cluster.

    python -m bench.sort_cost [--records 4000000] [--buffer 64M]

Builds terasort-like records (10-byte key, 90-byte value) in memory, then times building the
sorted runs (accounting, sorting and spilling) and iterating the merged result, in CPU seconds
of this process. Compare two trees by running each with its own PYTHONPATH, alternating.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time

from disco.worker.sort import disk_sort

ALPHABET = b"+0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def records(count: int, seed: int = 1) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    return [(bytes(rng.choices(ALPHABET, k=10)), b"x" * 90) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=4_000_000)
    parser.add_argument("--buffer", default="64M", help="sort_buffer_size")
    args = parser.parse_args()
    data = records(args.records)
    with tempfile.TemporaryDirectory() as directory:
        start = time.process_time()
        merged = disk_sort(iter(data), directory, args.buffer)
        built = time.process_time()
        count = sum(1 for _ in merged)
        done = time.process_time()
    assert count == len(data)
    per = (done - start) / count * 1e6
    print(f"{count} records, buffer {args.buffer}: build {built - start:.2f} s, "
          f"iterate {done - built:.2f} s CPU ({per:.2f} us per record)")


if __name__ == "__main__":
    main()
