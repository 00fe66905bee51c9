"""Plain-Python baselines of every benchmark workload.

Two implementations of each workload, with no framework:

* ``single`` -- one Python process (``collections.Counter`` over ``bytes.split`` per line, ...);
* ``pool2``  -- a ``multiprocessing.Pool(2)`` over the input files, partial results merged in the
  parent (the sort is a two-phase range-partitioned sort; the join broadcasts the users).

The runner starts each one as its own process (``python -m bench.baselines WORKLOAD IMPL
MANIFEST OUT``) so the time is the whole process, interpreter start-up included, like the Disco
jobs' submit-to-results time.  The answer is pickled to ``OUT`` for :mod:`bench.checks`.
"""
import os
import pickle
import sys
import time
from collections import Counter
from multiprocessing import Pool

from bench.corpus import GREP_RE, sort_partition

TASKS = {"full": 10_000, "quick": 200}
CHAIN_FILES = {"full": 2, "quick": 4}


def workload_inputs(workload, manifest):
    """The input files of a workload (the same files for the baselines and for Disco)."""
    files = manifest["files"]
    mode = manifest["params"]["mode"]
    if workload in ("wordcount", "grep", "distinct"):
        return list(files["text"])
    if workload == "chain":
        return list(files["text"][:CHAIN_FILES[mode]])
    if workload == "tiny":
        return list(files["tiny"])
    if workload == "sort":
        return list(files["sort"])
    if workload == "join":
        return list(files["users"]) + list(files["orders"])
    if workload == "tasks":
        return []
    raise ValueError(workload)


def input_bytes(workload, manifest):
    return sum(os.path.getsize(p) for p in workload_inputs(workload, manifest))


# ----------------------------------------------------------------------------- per-file kernels


def count_file(path):
    c = Counter()
    with open(path, "rb") as f:
        for line in f:
            c.update(line.split())
    return c


def grep_file(path):
    search = GREP_RE.search
    n = 0
    with open(path, "rb") as f:
        for line in f:
            if search(line):
                n += 1
    return n


def distinct_file(path):
    s = set()
    with open(path, "rb") as f:
        for line in f:
            s.update(line.split())
    return s


def read_records(path):
    with open(path, "rb") as f:
        data = f.read()
    recs = data.split(b"\n")
    if recs and not recs[-1]:
        recs.pop()
    return recs


def write_records(path, recs):
    with open(path, "wb") as f:
        f.write(b"\n".join(recs))
        if recs:
            f.write(b"\n")


def split_sort_file(args):
    path, outdir, nparts, index = args
    parts = [[] for _ in range(nparts)]
    for r in read_records(path):
        parts[sort_partition(r, nparts)].append(r)
    out = []
    for p, recs in enumerate(parts):
        o = os.path.join(outdir, "split-%02d-%02d.dat" % (index, p))
        write_records(o, recs)
        out.append(o)
    return out


def sort_bucket(args):
    paths, out = args
    recs = []
    for p in paths:
        recs.extend(read_records(p))
        os.unlink(p)
    recs.sort()
    write_records(out, recs)
    return out


def load_users(paths):
    users = {}
    for p in paths:
        with open(p, "rb") as f:
            for line in f:
                _, k, name = line.rstrip(b"\n").split(b"\t")
                users[k] = name
    return users


def join_orders(args):
    from bench.corpus import join_row_digest
    user_paths, order_paths = args
    users = load_users(user_paths)
    rows = digest = 0
    for p in order_paths:
        with open(p, "rb") as f:
            for line in f:
                _, k, amount = line.rstrip(b"\n").split(b"\t")
                name = users.get(k)
                if name is not None:
                    rows += 1
                    digest += join_row_digest(k, name, int(amount))
    return rows, digest & 0xFFFFFFFFFFFFFFFF


def trivial_task(i):
    return i, 1


def chain_buckets(counts):
    hist = Counter(counts.values())          # job 2: how many words occur n times
    buckets = Counter()                      # job 3: log2 buckets of n
    for n, m in hist.items():
        buckets[n.bit_length()] += m
    return dict(buckets)


# ----------------------------------------------------------------------------- workloads


def run(workload, impl, manifest, outdir):
    """Compute the workload's answer with implementation ``impl`` ('single' or 'pool2')."""
    paths = workload_inputs(workload, manifest)
    mode = manifest["params"]["mode"]
    pool = Pool(2) if impl == "pool2" else None

    def pmap(fn, items):
        if pool is None:
            return [fn(x) for x in items]
        return pool.map(fn, items, chunksize=1)

    try:
        if workload in ("wordcount", "tiny", "chain"):
            if pool is not None and len(paths) == 1:
                parts = pmap(count_file, _split_file(paths[0], 2, outdir))
            else:
                parts = pmap(count_file, paths)
            total = parts[0]
            for c in parts[1:]:
                total.update(c)
            if workload == "chain":
                return chain_buckets(total)
            return dict(total)
        if workload == "grep":
            return sum(pmap(grep_file, paths))
        if workload == "distinct":
            s = set()
            for part in pmap(distinct_file, paths):
                s |= part
            return sorted(s)
        if workload == "sort":
            os.makedirs(outdir, exist_ok=True)
            if pool is None:
                recs = []
                for p in paths:
                    recs.extend(read_records(p))
                recs.sort()
                out = os.path.join(outdir, "sorted-00.dat")
                write_records(out, recs)
                return [out]
            splits = pmap(split_sort_file, [(p, outdir, 2, i) for i, p in enumerate(paths)])
            buckets = [([s[b] for s in splits], os.path.join(outdir, "sorted-%02d.dat" % b))
                       for b in range(2)]
            return pmap(sort_bucket, buckets)
        if workload == "join":
            users = [p for p in paths if os.path.basename(p).startswith("users")]
            orders = [p for p in paths if os.path.basename(p).startswith("orders")]
            if pool is None:
                return join_orders((users, orders))
            halves = [(users, orders[0::2]), (users, orders[1::2])]
            parts = pmap(join_orders, halves)
            return (sum(r for r, _ in parts), sum(d for _, d in parts) & 0xFFFFFFFFFFFFFFFF)
        if workload == "tasks":
            res = pmap(trivial_task, range(TASKS[mode]))
            return (len(res), sum(i for i, _ in res))
        raise ValueError(workload)
    finally:
        if pool is not None:
            pool.close()
            pool.join()


def _split_file(path, n, outdir):
    """Split one text file at line boundaries into ``n`` files (pool2 over a single input)."""
    os.makedirs(outdir, exist_ok=True)
    with open(path, "rb") as f:
        data = f.read()
    out, start = [], 0
    for i in range(n):
        end = len(data) if i == n - 1 else data.find(b"\n", len(data) * (i + 1) // n) + 1 or \
            len(data)
        p = os.path.join(outdir, "part-%d.txt" % i)
        with open(p, "wb") as f:
            f.write(data[start:end])
        out.append(p)
        start = end
    return out


def main(argv=None):
    import json
    argv = sys.argv[1:] if argv is None else argv
    workload, impl, manifest_path, out = argv
    with open(manifest_path) as f:
        manifest = json.load(f)
    t0 = time.perf_counter()
    answer = run(workload, impl, manifest, out + ".d")
    t1 = time.perf_counter()
    with open(out, "wb") as f:
        pickle.dump({"answer": answer, "compute_s": t1 - t0}, f, protocol=pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    main()
