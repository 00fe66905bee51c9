"""The user-code floor: each classic workload's own job functions, no engine.

For every classic workload (the ``Job`` classes of :mod:`bench.workloads`), this runs the job's
own ``map_reader``, ``map``, ``combiner``, ``partition`` and ``reduce`` with Disco's semantics in
a ``multiprocessing.Pool(2)``:

* one map task per input: the input file opened in binary mode is the reader's ``fd`` (or, with
  no ``map_reader``, its byte lines are the map's entries; ``chain_reader`` inputs are the
  previous job's records); ``map(entry, params)`` yields pairs;
* with ``sum_combiner``: a running ``int`` total per key and label, inlined (as the engine
  does; calling it per pair would make the floor slower than the engine);
* with another ``combiner``: one buffer per partition label, ``combiner(key, value, buf, False,
  params)`` per pair and ``combiner(None, None, buf, True, params)`` at the end, each call's
  records appended to that label's output (as Disco's classic worker does);
* the label is ``partition(key, partitions, params)``; Disco's ``default_partition`` is computed
  once per distinct key (the engine memoizes it too: it is a pure function of the key), a job's
  own partition function is called per pair; with no ``partitions`` every label is 0;
* each map task's output per label is one ``pickle`` (the minimum a shuffle costs), handed to the
  parent by the pool and on to the reduce task of that label;
* one reduce task per label: the records of every map task in map order, ``sorted`` by key
  (stable, like the engine's in-memory sort) when the job sets ``sort``; ``reduce(iter, params)``
  yielding pairs or ``reduce(iter, out, params)`` calling ``out.add``;
* no reduce: the map outputs are the results.

What the engine adds on top (and this does not do): the master, scheduling, a process per task,
the task directories, record files and index files, status messages, ``result_iterator``.
``python -m bench.floor WORKLOAD floor MANIFEST OUT`` is how the runner starts it (one process,
interpreter start-up included, like the other baselines); the answer is pickled to ``OUT``.
"""
import os
import pickle
import sys
import time
from multiprocessing import Pool

from disco.util import argcount
from disco.worker.classic.func import chain_reader, default_partition, sum_combiner

from bench import workloads as W
from bench.baselines import TASKS, workload_inputs

#: the classic job of each workload (``chain`` is three jobs in turn)
JOBS = {
    "wordcount": [W.WordCount], "tiny": [W.WordCount], "grep": [W.Grep],
    "distinct": [W.Distinct], "join": [W.Join], "sort": [W.TeraSort], "tasks": [W.Trivial],
    "chain": [W.WordCount, W.CountHistogram, W.Log2Buckets],
}


class Spec:
    """The job functions and settings a task needs (picklable: module-level functions)."""

    def __init__(self, job, params=None):
        self.map_reader = getattr(job, "map_reader", None)
        self.map = job.map
        self.combiner = getattr(job, "combiner", None)
        self.partition = getattr(job, "partition", default_partition)
        self.partitions = getattr(job, "partitions", 1)
        self.reduce = getattr(job, "reduce", None)
        self.sort = getattr(job, "sort", False)
        self.params = params


class Out:
    """The ``out`` of a three-argument reduce: ``add`` appends to a list."""

    def __init__(self):
        self.records = []
        self.add = lambda key, value: self.records.append((key, value))


def _entries(spec, source):
    """The map's entries of one input: ``("file", path)``, ``("raw", bytes)``, ``("records",
    pickled list)``; returns (entries, file to close)."""
    kind, data = source
    if kind == "records":
        records = pickle.loads(data)
        if spec.map_reader is chain_reader:
            return records, None
        raise ValueError("records input needs chain_reader")
    if kind == "raw":
        import io
        fd = io.BytesIO(data)
        size, url = len(data), "raw://" + data.decode()
    else:
        fd = open(data, "rb")
        size, url = os.path.getsize(data), data
    if spec.map_reader is None:
        return fd, fd
    return spec.map_reader(fd, size, url, spec.params), fd


def _labeller(spec):
    nparts, partition, params = spec.partitions, spec.partition, spec.params
    if not nparts:
        return lambda key: 0
    if partition is default_partition:
        memo = {}

        def label_of(key):
            label = memo.get(key)
            if label is None:
                label = memo[key] = partition(key, nparts, params)
            return label
        return label_of
    return lambda key: partition(key, nparts, params)


def map_task(args):
    """One map task: ``{label: pickled list of records}``."""
    spec, source = args
    entries, fd = _entries(spec, source)
    fun_map, combiner, params = spec.map, spec.combiner, spec.params
    label_of = _labeller(spec)
    outputs = {}
    try:
        if combiner is None:
            for entry in entries:
                for key, value in fun_map(entry, params):
                    label = label_of(key)
                    out = outputs.get(label)
                    if out is None:
                        out = outputs[label] = []
                    out.append((key, value))
        elif combiner is sum_combiner:
            # the engine's one shortcut with a job function: `sum_combiner` inlined (its
            # semantics: int(value) summed per key and label), so the floor is not slower
            # than the engine for a reason of its own
            buffers = {}
            for entry in entries:
                for key, value in fun_map(entry, params):
                    label = label_of(key)
                    buf = buffers.get(label)
                    if buf is None:
                        buf = buffers[label] = {}
                    buf[key] = buf.get(key, 0) + int(value)
            for label, buf in buffers.items():
                outputs[label] = list(buf.items())
        else:
            buffers = {}
            for entry in entries:
                for key, value in fun_map(entry, params):
                    label = label_of(key)
                    buf = buffers.get(label)
                    if buf is None:
                        buf = buffers[label] = {}
                        outputs[label] = []
                    records = combiner(key, value, buf, False, params)
                    if records:
                        outputs[label].extend(records)
            for label, buf in buffers.items():
                outputs[label].extend(combiner(None, None, buf, True, params) or ())
    finally:
        if fd is not None:
            fd.close()
    return {label: pickle.dumps(recs, pickle.HIGHEST_PROTOCOL) for label, recs in outputs.items()}


def reduce_task(args):
    """One reduce task over one label's map outputs: the pickled list of its results."""
    spec, blobs = args
    records = [rec for blob in blobs for rec in pickle.loads(blob)]
    if spec.sort:
        records.sort(key=lambda rec: rec[0])
    fun_reduce, params = spec.reduce, spec.params
    if argcount(fun_reduce) < 3:
        results = list(fun_reduce(iter(records), params))
    else:
        out = Out()
        fun_reduce(iter(records), out, params)
        results = out.records
    return pickle.dumps(results, pickle.HIGHEST_PROTOCOL)


def run_job(pool, spec, sources):
    """Map every source, then reduce each label: the pickled results, one per label (or per
    map output when the job has no reduce)."""
    chunks = max(1, len(sources) // 64) if len(sources) > 256 else 1
    maps = pool.map(map_task, [(spec, s) for s in sources], chunksize=chunks)
    if spec.reduce is None:
        return [blob for out in maps for _label, blob in sorted(out.items())]
    labels = sorted({label for out in maps for label in out})
    reduces = [(spec, [out[label] for out in maps if label in out]) for label in labels]
    return pool.map(reduce_task, reduces, chunksize=1)


def _records(results):
    for blob in results:
        yield from pickle.loads(blob)


def answer(workload, results):
    """The answer in the form :mod:`bench.checks` expects (as the Disco runners compute it)."""
    if workload in ("wordcount", "tiny"):
        counts = {}
        for word, n in _records(results):
            counts[word] = counts.get(word, 0) + n
        return counts
    if workload == "grep":
        return sum(n for _, n in _records(results))
    if workload == "distinct":
        return [w for w, _ in _records(results)]
    if workload == "chain":
        buckets = {}
        for k, n in _records(results):
            buckets[int(k)] = buckets.get(int(k), 0) + n
        return buckets
    if workload == "tasks":
        n = total = 0
        for key, _ in _records(results):
            n += 1
            total += int(key)
        return (n, total)
    if workload == "join":
        from bench.corpus import join_row_digest
        rows = digest = 0
        for key, (name, amount) in _records(results):
            rows += 1
            digest += join_row_digest(key, name, amount)
        return (rows, digest & 0xFFFFFFFFFFFFFFFF)
    if workload == "sort":
        from bench.checks import SortChecker
        chk = SortChecker()
        for i, blob in enumerate(results):
            chk.segment((k + v for k, v in pickle.loads(blob)), "result %d" % i)
        return chk.summary()
    raise ValueError(workload)


def run(workload, manifest):
    mode = manifest["params"]["mode"]
    if workload == "tasks":
        sources = [("raw", b"%d" % i) for i in range(TASKS[mode])]
    else:
        sources = [("file", p) for p in workload_inputs(workload, manifest)]
    from disco.worker.classic.worker import Params
    params = Params(pattern=W.GREP_PATTERN) if workload == "grep" else Params()
    with Pool(2) as pool:
        for job in JOBS[workload]:
            results = run_job(pool, Spec(job, params), sources)
            sources = [("records", blob) for blob in results]
    return answer(workload, results)


def main(argv=None):
    import json
    argv = sys.argv[1:] if argv is None else argv
    workload, _impl, manifest_path, out = argv
    with open(manifest_path) as f:
        manifest = json.load(f)
    t0 = time.perf_counter()
    ans = run(workload, manifest)
    t1 = time.perf_counter()
    with open(out, "wb") as f:
        pickle.dump({"answer": ans, "compute_s": t1 - t0}, f, protocol=pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    main()
