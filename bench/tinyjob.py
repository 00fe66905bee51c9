"""A user's whole 1 MiB word-count job as its own process: ``python bench/tinyjob.py INPUT OUT``.

Written the way a user writes a job script (the functions in ``__main__``, Disco's tutorial word
count with ``sum_combiner``); it submits to ``DISCO_MASTER``, waits, reads the results with
``result_iterator`` and pickles the counts to OUT, with the time of each phase (import of
``disco.core``, ``run`` = job pack + submission, ``wait``, results) for the runner's report.
"""
import sys
import time

T0 = time.time()
from disco.core import Job, result_iterator  # noqa: E402
from disco.worker.classic.func import sum_combiner  # noqa: E402

T1 = time.time()


def fun_map(line, params):
    for word in line.split():
        yield word, 1


def fun_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


if __name__ == "__main__":
    import pickle
    job = Job().run(input=sys.argv[1:-1], map=fun_map, combiner=sum_combiner,
                    reduce=fun_reduce, partitions=2)
    t2 = time.time()
    results = job.wait()
    t3 = time.time()
    counts = {}
    for word, n in result_iterator(results):
        counts[word] = counts.get(word, 0) + n
    t4 = time.time()
    with open(sys.argv[-1], "wb") as f:
        pickle.dump({"answer": counts, "job": job.name,
                     "phases": {"import": T1 - T0, "run": t2 - T1, "wait": t3 - t2,
                                "results": t4 - t3},
                     # Unix seconds, for bench.blink's timeline against the master's
                     "stamps": {"first line": T0, "imported": T1, "run returned": t2,
                                "wait returned": t3, "results read": t4}}, f)
