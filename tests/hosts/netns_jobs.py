"""Client programs run inside the master's namespace by the real-hosts tests.

``python tests/hosts/netns_jobs.py wordcount N [--seed S] [--params JSON]`` runs a word count
over N generated ``raw://`` inputs and prints one JSON line: the job name, the counts found
and the counts expected. Job functions are defined here (shipped by value to the nodes).
"""
from __future__ import annotations

import argparse
import json
import random
import sys

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


def fun_map(line, params):
    import os
    import time
    delay = params.get("map_sleep", 0)
    if delay:
        time.sleep(delay)
    if params.get("runs"):
        open(os.path.join(params["runs"], f"map-{os.getpid()}-{time.time_ns()}"), "w").close()
    for word in line.split():
        yield word, 1


def fun_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def inputs(count: int, seed: int) -> tuple[list[str], dict[str, int]]:
    rng = random.Random(seed)
    found, expected = [], {}
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 6))]
        found.append("raw://" + " ".join(words))
        for word in words:
            expected[word] = expected.get(word, 0) + 1
    return found, expected


def wordcount(count: int, seed: int, params: dict, partitions: int, timeout: float) -> dict:
    from disco.core import Job, result_iterator
    urls, expected = inputs(count, seed)
    job = Job().run(input=urls, map=fun_map, reduce=fun_reduce, partitions=partitions,
                    params=params)
    results = job.wait(timeout=timeout)
    counts: dict[str, int] = {}
    pairs = 0
    for word, total in result_iterator(results):
        key = word.decode() if isinstance(word, bytes) else word
        counts[key] = counts.get(key, 0) + total
        pairs += 1
    return {"job": job.name, "counts": counts, "expected": expected, "pairs": pairs,
            "distinct": len(counts)}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("program", choices=["wordcount"])
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--params", default="{}")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args(argv)
    print(json.dumps(wordcount(args.count, args.seed, json.loads(args.params), args.partitions,
                               args.timeout)))


if __name__ == "__main__":
    main(sys.argv[1:])
