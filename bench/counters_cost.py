"""CPU cost of the worker hot paths the counters touch, in-process (no cluster).

    python -m bench.counters_cost [--reps N]

A classic map with the inlined ``sum_combiner`` (`fastpath.map_summed`), a map with a Python
combiner (`fastpath.map_one_buffer`) and record writes (`DiscoOutputStream_v1.add`), over
400,000 Zipf-like words; prints the minimum CPU time (``process_time``) of N runs. Run it
with each tree's interpreter, interleaved, to compare two commits on a loaded machine
(docs/counters.md "Cost").
"""
from __future__ import annotations

import argparse
import io
import random
import time

from disco.fileutils import DiscoOutputStream_v1
from disco.worker.classic import fastpath
from disco.worker.classic.func import default_partition


def corpus(count: int = 400_000) -> tuple[list[bytes], list[bytes]]:
    rng = random.Random(1)
    words = [b"w%d" % int(rng.paretovariate(1.1)) for _ in range(count)]
    return words, [b" ".join(words[i:i + 10]) for i in range(0, len(words), 10)]


def fun_map(line: bytes, params: object) -> list:
    return [(word, 1) for word in line.split()]


def combiner(key, value, buffer, done, params):
    if done:
        return buffer.items()
    buffer[key] = buffer.get(key, 0) + value
    return None


def workloads(words: list[bytes], lines: list[bytes]) -> dict:
    def summed() -> None:
        out: dict = {}
        fastpath.map_summed(lines, fun_map, None, default_partition, 2,
                            lambda label: out.setdefault(label, {}).__setitem__)

    def python_combiner() -> None:
        out: list = []
        fastpath.map_one_buffer(lines, fun_map, None, combiner, 0,
                                lambda label: lambda k, v: out.append(k))

    def output() -> None:
        stream = DiscoOutputStream_v1(io.BytesIO())
        add = stream.add
        for word in words:
            add(word, 1)
        stream.close()
    return {"map_summed": summed, "map_one_buffer": python_combiner, "output_add": output}


def best_cpu(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    for name, fn in workloads(*corpus()).items():
        print(f"{name:16s} {best_cpu(fn, args.reps) * 1000:8.1f} ms CPU")  # noqa: T201


if __name__ == "__main__":
    main()
