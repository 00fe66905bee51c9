#!/usr/bin/env python3
"""Sum `key,amount` lines per key and count the lines that are malformed (docs/counters.md).

    python examples/count_malformed.py [INPUT ...]

Each map task counts what it drops with `counter('quality', ...)`; the master sums the
counters of every task (a retried task counts once) and `disco counters JOB`, the job page
and `Job.counters()` show them. With no inputs, a small sample with bad lines is used.
"""
import sys

from disco.core import Job, result_iterator
from disco.worker import counter

SAMPLE = ["raw://apple,3\nbanana,x\npear,2\n\napple,1",
          "raw://garbage\nbanana,5\npear,,1\nbanana,2"]


def map(line, params):
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    fields = line.strip().split(",")
    if len(fields) != 2 or not fields[0]:
        counter("quality", "malformed_fields")
        return
    key, amount = fields
    try:
        value = int(amount)
    except ValueError:
        counter("quality", "malformed_amount")
        return
    counter("quality", "good")
    yield key, value


def reduce(iter, params):
    from disco.util import kvgroup
    for key, values in kvgroup(sorted(iter)):
        yield key, sum(values)


def run(inputs, **jobargs):
    """Run the job and wait for it; :return: ``(job, results)``."""
    job = Job(name="CountMalformed", **jobargs).run(input=inputs, map=map, reduce=reduce)
    return job, job.wait(show=False)


if __name__ == "__main__":
    job, results = run([arg if "://" in arg else "file://" + arg for arg in sys.argv[1:]]
                       or SAMPLE)
    for key, total in result_iterator(results):
        print(key, total)
    quality = job.counters()["user"].get("quality", {})
    for name, value in sorted(quality.items()):
        print(f"{name}: {value}")
