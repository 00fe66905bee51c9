"""The benchmark workloads as Disco jobs, written the way a Disco user writes them.

Job functions import what they use inside their bodies (Disco's tutorial style), so they run
whether or not this module can be imported on the nodes.  Keys are bytes: text inputs reach a
classic ``map`` (and a pipeline stage) as byte lines, as in Disco.

Every ``run_*`` function submits its job(s) to ``master``, waits, reads the results with
``result_iterator`` and returns the answer that :mod:`bench.checks` compares; ``marks`` (a dict)
receives ``submitted`` / ``done`` time stamps (``time.perf_counter``) so the runner can split
job time from result reading.
"""
import time

from disco.core import Job, result_iterator
from disco.worker.classic.func import chain_reader, sum_combiner, sum_reduce
from disco.worker.pipeline.worker import Stage
from disco.worker.pipeline.worker import Worker as PipelineWorker

#: the grep workload's pattern (same as bench.corpus.GREP_PATTERN, repeated so job code is
#: self-contained)
GREP_PATTERN = rb"\bdis[ck]o[a-z]*\b"


def _mark(marks, name):
    if marks is not None:
        marks[name] = time.perf_counter()


# ============================================================================ classic jobs


def wc_map(line, params):
    for word in line.split():
        yield word, 1


def wc_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


class WordCount(Job):
    """Disco's tutorial word count, with ``sum_combiner`` (the 91 s variant of Disco 0.5.4)."""
    partitions = 2
    map = staticmethod(wc_map)
    combiner = staticmethod(sum_combiner)
    reduce = staticmethod(wc_reduce)


def grep_reader(fd, size, url, params):
    """Disco's own grep example (``examples/util/grep.py``): the map reader compiles the
    pattern once and yields the matching lines."""
    import re
    search = re.compile(params.pattern).search
    for line in fd:
        if search(line):
            yield line


def grep_map(line, params):
    yield b"lines", 1


class Grep(Job):
    """Count lines matching a regular expression, as Disco's grep example reads them."""
    map_reader = staticmethod(grep_reader)
    map = staticmethod(grep_map)
    combiner = staticmethod(sum_combiner)
    reduce = staticmethod(sum_reduce)


def distinct_map(line, params):
    for word in line.split():
        yield word, b""


def distinct_combiner(key, value, buf, done, params):
    if done:
        return ((k, b"") for k in buf)
    buf[key] = 1


def distinct_reduce(iter, out, params):
    from disco.util import kvgroup
    for word, _ in kvgroup(iter):
        out.add(word, b"")


class Distinct(Job):
    """Distinct words, sorted: one reduce over ``sort=True`` input."""
    partitions = 1
    sort = True
    map = staticmethod(distinct_map)
    combiner = staticmethod(distinct_combiner)
    reduce = staticmethod(distinct_reduce)


def terasort_map(line, params):
    rec = line.rstrip(b"\r\n")
    yield rec[:10], rec[10:]


def terasort_partition(key, nr_partitions, params):
    alphabet = b"+0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    return alphabet.index(key[0]) * nr_partitions // 64


def terasort_reduce(iter, out, params):
    for key, value in iter:
        out.add(key, value)


class TeraSort(Job):
    """Sort 100-byte records by their 10-byte key: range partitions, reduce with ``sort=True``
    (an external sort that spills to disk), so the partitions' outputs are in key order."""
    partitions = 2
    sort = True
    sort_buffer_size = "64M"
    map = staticmethod(terasort_map)
    partition = staticmethod(terasort_partition)
    reduce = staticmethod(terasort_reduce)


def join_map(line, params):
    tag, key, value = line.rstrip(b"\r\n").split(b"\t")
    yield key, (tag, value)


def join_reduce(iter, out, params):
    from disco.util import kvgroup
    for key, values in kvgroup(iter):
        names, amounts = [], []
        for tag, value in values:
            if tag == b"U":
                names.append(value)
            else:
                amounts.append(int(value))
        for name in names:
            for amount in amounts:
                out.add(key, (name, amount))


class Join(Job):
    """Reduce-side inner join of users and orders on the user key."""
    partitions = 2
    sort = True
    map = staticmethod(join_map)
    reduce = staticmethod(join_reduce)


def trivial_map(entry, params):
    yield entry, 1


class Trivial(Job):
    """One trivial map task per ``raw://`` input: scheduling throughput."""
    map = staticmethod(trivial_map)


def hist_map(kv, params):
    word, count = kv
    yield b"%d" % count, 1


def bucket_map(kv, params):
    count, words = kv
    yield b"%d" % int(count).bit_length(), int(words)


class CountHistogram(Job):
    """Chain job 2: how many words occur n times."""
    partitions = 2
    map_reader = staticmethod(chain_reader)
    map = staticmethod(hist_map)
    combiner = staticmethod(sum_combiner)
    reduce = staticmethod(sum_reduce)


class Log2Buckets(Job):
    """Chain job 3: the histogram in log2 buckets."""
    map_reader = staticmethod(chain_reader)
    map = staticmethod(bucket_map)
    combiner = staticmethod(sum_combiner)
    reduce = staticmethod(sum_reduce)


# ============================================================================ pipeline jobs


def crc_label(word, n):
    import zlib
    return zlib.crc32(word) % n


def count_init(interface, params):
    from collections import Counter
    return Counter()


def count_words(interface, state, label, inp):
    for line in inp:
        state.update(line.split())


def count_emit(interface, state):
    import zlib
    outs = [interface.output(0), interface.output(1)]
    for word, n in state.items():
        outs[zlib.crc32(word) % 2].add(word, n)


def sum_process(interface, state, label, inp):
    for word, n in inp:
        state[word] += n


def sum_emit(interface, state):
    out = interface.output(0)
    for word, n in state.items():
        out.add(word, n)


class WordCountPipeline(Job):
    """Word count with the Stage API: each map task counts its input in memory and emits one
    (word, count) per distinct word in two labels; one reduce task per label sums them."""
    Worker = PipelineWorker
    pipeline = [
        ("split", Stage("map", init=count_init, process=count_words, done=count_emit)),
        ("group_label", Stage("reduce", init=count_init, process=sum_process, done=sum_emit,
                              combine=True)),
    ]


def zero_init(interface, params):
    return [0]


def grep_process(interface, state, label, inp):
    import re
    search = re.compile(rb"\bdis[ck]o[a-z]*\b").search
    n = 0
    for line in inp:
        if search(line):
            n += 1
    state[0] += n


def grep_emit(interface, state):
    interface.output(0).add(b"lines", state[0])


def total_process(interface, state, label, inp):
    for _, n in inp:
        state[0] += n


class GrepPipeline(Job):
    Worker = PipelineWorker
    pipeline = [
        ("split", Stage("map", init=zero_init, process=grep_process, done=grep_emit)),
        ("group_all", Stage("reduce", init=zero_init, process=total_process, done=grep_emit,
                            combine=True)),
    ]


def set_init(interface, params):
    return set()


def words_into_set(interface, state, label, inp):
    for line in inp:
        state.update(line.split())


def keys_into_set(interface, state, label, inp):
    for word, _ in inp:
        state.add(word)


def set_emit_sorted(interface, state):
    out = interface.output(0)
    for word in sorted(state):
        out.add(word, b"")


class DistinctPipeline(Job):
    Worker = PipelineWorker
    pipeline = [
        ("split", Stage("map", init=set_init, process=words_into_set, done=set_emit_sorted)),
        ("group_all", Stage("reduce", init=set_init, process=keys_into_set,
                            done=set_emit_sorted, combine=True)),
    ]


# ============================================================================ runners


def _inputs(paths):
    return list(paths)


def _pipeline_inputs(paths):
    # the pipeline worker's inputs are replica lists
    return [[p] for p in paths]


def count_results(results):
    counts = {}
    for word, n in result_iterator(results):
        counts[word] = counts.get(word, 0) + n
    return counts


def run_wordcount(master, paths, marks=None, **kw):
    _mark(marks, "submit")
    job = WordCount(master=master).run(input=_inputs(paths))
    results = job.wait()
    _mark(marks, "done")
    return count_results(results), [job]


def run_wordcount_pipeline(master, paths, marks=None, **kw):
    _mark(marks, "submit")
    job = WordCountPipeline(master=master).run(input=_pipeline_inputs(paths))
    results = job.wait()
    _mark(marks, "done")
    return count_results(results), [job]


def run_grep(master, paths, marks=None, **kw):
    from disco.worker.classic.worker import Params
    _mark(marks, "submit")
    job = Grep(master=master).run(input=_inputs(paths), params=Params(pattern=GREP_PATTERN))
    results = job.wait()
    _mark(marks, "done")
    return sum(n for _, n in result_iterator(results)), [job]


def run_grep_pipeline(master, paths, marks=None, **kw):
    _mark(marks, "submit")
    job = GrepPipeline(master=master).run(input=_pipeline_inputs(paths))
    results = job.wait()
    _mark(marks, "done")
    return sum(n for _, n in result_iterator(results)), [job]


def run_distinct(master, paths, marks=None, **kw):
    _mark(marks, "submit")
    job = Distinct(master=master).run(input=_inputs(paths))
    results = job.wait()
    _mark(marks, "done")
    return [w for w, _ in result_iterator(results)], [job]


def run_distinct_pipeline(master, paths, marks=None, **kw):
    _mark(marks, "submit")
    job = DistinctPipeline(master=master).run(input=_pipeline_inputs(paths))
    results = job.wait()
    _mark(marks, "done")
    return [w for w, _ in result_iterator(results)], [job]


def run_sort(master, paths, marks=None, max_mem=256 << 20, **kw):
    from bench.checks import SortChecker
    from disco.settings import DiscoSettings
    settings = DiscoSettings(DISCO_WORKER_MAX_MEM=str(max_mem)) if max_mem else None
    _mark(marks, "submit")
    job = TeraSort(master=master, settings=settings).run(input=_inputs(paths))
    results = job.wait()
    _mark(marks, "done")
    chk = SortChecker()
    for i, result in enumerate(results):
        # one result per reduce partition; each must be sorted, and together cover the input
        chk.segment((k + v for k, v in result_iterator([result])), "result %d" % i)
    return chk.summary(), [job]


def run_join(master, paths, marks=None, **kw):
    from bench.corpus import join_row_digest
    _mark(marks, "submit")
    job = Join(master=master).run(input=_inputs(paths))
    results = job.wait()
    _mark(marks, "done")
    rows = digest = 0
    for key, (name, amount) in result_iterator(results):
        rows += 1
        digest += join_row_digest(key, name, amount)
    return (rows, digest & 0xFFFFFFFFFFFFFFFF), [job]


def run_tiny(master, paths, marks=None, **kw):
    return run_wordcount(master, paths, marks)


def run_tiny_process(master, paths, marks=None, **kw):
    """The 1 MiB job as a user's whole process (``bench/tinyjob.py``): interpreter start-up,
    import, job pack, submission, wait and results; its phases go to ``marks``."""
    import os
    import pickle
    import subprocess
    import sys
    import tempfile
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tinyjob.py")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "answer.pkl")
        _mark(marks, "submit")
        subprocess.run([sys.executable, script, *paths, out], check=True, cwd=tmp,
                       env=dict(os.environ, DISCO_MASTER=master))
        _mark(marks, "done")
        with open(out, "rb") as f:
            res = pickle.load(f)
    if marks is not None:
        marks["phases"] = res["phases"]
    return res["answer"], [type("JobName", (), {"name": res["job"]})()]


def run_tasks(master, paths, marks=None, ntasks=10_000, **kw):
    inputs = ["raw://%d" % i for i in range(ntasks)]
    _mark(marks, "submit")
    job = Trivial(master=master).run(input=inputs)
    results = job.wait()
    _mark(marks, "done")
    n = total = 0
    for key, _ in result_iterator(results):
        n += 1
        total += int(key)
    return (n, total), [job]


def run_chain(master, paths, marks=None, **kw):
    _mark(marks, "submit")
    first = WordCount(master=master).run(input=_inputs(paths))
    second = CountHistogram(master=master).run(input=first.wait())
    third = Log2Buckets(master=master).run(input=second.wait())
    results = third.wait()
    _mark(marks, "done")
    buckets = {}
    for k, n in result_iterator(results):
        buckets[int(k)] = buckets.get(int(k), 0) + n
    return buckets, [first, second, third]


RUNNERS = {
    "wordcount": run_wordcount,
    "wordcount-pipeline": run_wordcount_pipeline,
    "grep": run_grep,
    "grep-pipeline": run_grep_pipeline,
    "distinct": run_distinct,
    "distinct-pipeline": run_distinct_pipeline,
    "sort": run_sort,
    "join": run_join,
    "tiny": run_tiny,
    "tiny-process": run_tiny_process,
    "tasks": run_tasks,
    "chain": run_chain,
}
