"""Deterministic benchmark corpora.

Everything is generated from a seed with :class:`random.Random`, so the same sizes and seed give
byte-identical files on every machine and Python 3 version (``random.Random`` with an int seed,
``choices``, ``randbytes`` and ``randrange`` are stable).  Corpora are written under a cache
directory (default ``$DISCO_BENCH_DATA`` or ``/tmp/disco-bench``), never inside the repository, and
reused while their parameters match the ``manifest.json`` stored beside them.

Data sets
---------
* ``text``  -- lines of 4..16 words drawn from a Zipf-like vocabulary (rank ``r`` has weight
  ``1 / r**1.05``) of lowercase words; used by word count, grep, distinct and the chain.
* ``tiny``  -- one 1 MiB text file (start-up cost job).
* ``sort``  -- terasort-like 100-byte records: a 10-byte key over a 64-character alphabet, a space,
  a 16-hex-digit row id, a space, 71 filler letters and ``\\n``.  The manifest keeps the record count
  and an order-independent checksum (sum of ``crc32`` of each record without its newline).
* ``join``  -- two record sets: users ``U\\t<key>\\t<name>`` (unique keys) and orders
  ``O\\t<key>\\t<amount>`` (keys drawn from 1.25x the user key range, so some orders have no user).
  The manifest keeps the inner join's row count and order-independent digest.
"""
import hashlib
import itertools
import json
import os
import random
import re
import time
import zlib
from multiprocessing import Pool

CORPUS_VERSION = 3
DEFAULT_DIR = os.environ.get("DISCO_BENCH_DATA", "/tmp/disco-bench")
MiB = 1 << 20

#: regular expression of the grep workload (a byte pattern; matched with ``search`` per line)
GREP_PATTERN = rb"\bdis[ck]o[a-z]*\b"
GREP_RE = re.compile(GREP_PATTERN)

SORT_RECORD = 100
SORT_KEY = 10
SORT_ALPHABET = b"+0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
assert len(SORT_ALPHABET) == 64 and sorted(SORT_ALPHABET) == list(SORT_ALPHABET)
_KEY_TABLE = bytes(SORT_ALPHABET[b % 64] for b in range(256))
_FILL_TABLE = bytes(b"abcdefghijklmnopqrstuvwxyz"[b % 26] for b in range(256))

#: (full, quick) sizes of every data set
SIZES = {
    "full": {
        "text_files": 8, "text_file_bytes": 32 * MiB,
        "tiny_bytes": 1 * MiB,
        "sort_files": 8, "sort_file_bytes": 128 * MiB,
        "join_users": 1_000_000, "join_user_files": 2,
        "join_orders": 5_000_000, "join_order_files": 6,
        "vocabulary": 250_000,
    },
    "quick": {
        "text_files": 4, "text_file_bytes": 256 * 1024,
        "tiny_bytes": 1 * MiB,
        "sort_files": 4, "sort_file_bytes": 256 * 1024,
        "join_users": 5_000, "join_user_files": 2,
        "join_orders": 20_000, "join_order_files": 2,
        "vocabulary": 20_000,
    },
}


# ---------------------------------------------------------------------------------------------
# record helpers shared by the baselines, the Disco jobs' checks and the generator


def sort_checksum_add(acc, record):
    """Order-independent checksum of one sort record (bytes without newline)."""
    return (acc + zlib.crc32(record)) & 0xFFFFFFFFFFFFFFFF


def join_row_digest(key, name, amount):
    """crc32 of one joined row ``key, name, amount`` (bytes, bytes, int)."""
    return zlib.crc32(b"%s\t%s\t%d" % (key, name, amount))


def sort_partition(key, nr_partitions):
    """Range partition of a sort key (bytes): keeps the partitions' key ranges in order."""
    return SORT_ALPHABET.index(key[0]) * nr_partitions // 64


# ---------------------------------------------------------------------------------------------
# generators


def vocabulary(seed, size):
    """``size`` distinct lowercase words, in rank order (rank 0 is the most frequent)."""
    rng = random.Random(seed * 7919 + 1)
    letters = b"abcdefghijklmnopqrstuvwxyz"
    lengths = (2, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 9, 9, 10, 11, 12)
    seen, words = set(), []
    # a few fixed words the grep pattern matches, at different ranks
    fixed = {40: b"disco", 900: b"disko", 5000: b"discotheque"}
    while len(words) < size:
        if len(words) in fixed and fixed[len(words)] not in seen:
            w = fixed[len(words)]
        else:
            w = bytes(rng.choices(letters, k=rng.choice(lengths)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def _zipf_cum_weights(n, s=1.05):
    return list(itertools.accumulate(1.0 / (r + 1) ** s for r in range(n)))


def _text_file(args):
    path, seed, nbytes, vocab_seed, vocab_size = args
    words = vocabulary(vocab_seed, vocab_size)
    cw = _zipf_cum_weights(vocab_size)
    rng = random.Random(seed)
    size = 0
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        while size < nbytes:
            batch = rng.choices(words, cum_weights=cw, k=60000)
            lens = rng.choices(range(4, 17), k=6000)
            lines, i = [], 0
            for n in lens:
                j = i + n
                if j > len(batch):
                    break
                line = b" ".join(batch[i:j]) + b"\n"
                if size + len(line) > nbytes:
                    size = nbytes
                    break
                lines.append(line)
                size += len(line)
                i = j
            f.write(b"".join(lines))
    os.replace(tmp, path)
    return path


def _sort_file(args):
    path, seed, nrecords, first_row = args
    rng = random.Random(seed)
    acc = 0
    tmp = path + ".partial"
    step = 50000
    with open(tmp, "wb") as f:
        for start in range(0, nrecords, step):
            n = min(step, nrecords - start)
            keys = rng.randbytes(SORT_KEY * n).translate(_KEY_TABLE)
            fill = rng.randbytes(71 * n).translate(_FILL_TABLE)
            recs = []
            for i in range(n):
                rec = b"%s %016x %s" % (keys[i * 10:i * 10 + 10], first_row + start + i,
                                        fill[i * 71:i * 71 + 71])
                acc = (acc + zlib.crc32(rec)) & 0xFFFFFFFFFFFFFFFF
                recs.append(rec)
            recs.append(b"")
            f.write(b"\n".join(recs))
    os.replace(tmp, path)
    return acc


def _user_name(rng, words):
    return b"%s_%s" % (rng.choice(words), rng.choice(words))


def _join_files(root, seed, users, user_files, orders, order_files, vocab_seed):
    """Write the two record sets; return (user paths, order paths, rows, digest)."""
    words = vocabulary(vocab_seed, 2000)
    rng = random.Random(seed)
    names = [_user_name(rng, words) for _ in range(users)]
    upaths, opaths = [], []
    per = -(-users // user_files)
    for fi in range(user_files):
        p = os.path.join(root, "users-%02d.txt" % fi)
        with open(p + ".partial", "wb") as f:
            f.write(b"".join(b"U\t%08d\t%s\n" % (k, names[k])
                             for k in range(fi * per, min(users, (fi + 1) * per))))
        os.replace(p + ".partial", p)
        upaths.append(p)
    rows, digest = 0, 0
    per = -(-orders // order_files)
    keyspace = users * 5 // 4
    for fi in range(order_files):
        p = os.path.join(root, "orders-%02d.txt" % fi)
        n = max(0, min(orders, (fi + 1) * per) - fi * per)
        out = []
        for _ in range(n):
            k = rng.randrange(keyspace)
            amount = rng.randrange(1, 1000)
            out.append(b"O\t%08d\t%d\n" % (k, amount))
            if k < users:
                rows += 1
                digest = (digest + join_row_digest(b"%08d" % k, names[k], amount)) \
                    & 0xFFFFFFFFFFFFFFFF
        with open(p + ".partial", "wb") as f:
            f.write(b"".join(out))
        os.replace(p + ".partial", p)
        opaths.append(p)
    return upaths, opaths, rows, digest


def generate(mode="full", root=None, seed=42, processes=2, log=print):
    """Generate (or reuse) the corpus for ``mode`` ('full' or 'quick'); return its manifest dict."""
    sizes = SIZES[mode]
    root = os.path.abspath(os.path.join(root or DEFAULT_DIR, "%s-%d" % (mode, seed)))
    params = {"version": CORPUS_VERSION, "seed": seed, "mode": mode, "sizes": sizes}
    mpath = os.path.join(root, "manifest.json")
    if os.path.exists(mpath):
        with open(mpath) as f:
            manifest = json.load(f)
        if manifest.get("params") == params and all(
                os.path.exists(p) for ps in manifest["files"].values() for p in ps):
            return manifest
    os.makedirs(root, exist_ok=True)
    t0 = time.time()
    log("generating %s corpus in %s ..." % (mode, root))
    vs = sizes["vocabulary"]
    text_jobs = [(os.path.join(root, "text-%02d.txt" % i), seed * 1000 + i,
                  sizes["text_file_bytes"], seed, vs) for i in range(sizes["text_files"])]
    text_jobs.append((os.path.join(root, "tiny.txt"), seed * 1000 + 999, sizes["tiny_bytes"],
                      seed, vs))
    nrec = sizes["sort_file_bytes"] // SORT_RECORD
    sort_jobs = [(os.path.join(root, "sort-%02d.dat" % i), seed * 2000 + i, nrec, i * nrec)
                 for i in range(sizes["sort_files"])]
    with Pool(processes) as pool:
        texts = pool.map_async(_text_file, text_jobs, chunksize=1)
        sums = pool.map_async(_sort_file, sort_jobs, chunksize=1)
        upaths, opaths, rows, digest = _join_files(
            root, seed * 3000, sizes["join_users"], sizes["join_user_files"],
            sizes["join_orders"], sizes["join_order_files"], seed)
        texts = texts.get()
        sums = sums.get()
    manifest = {
        "params": params,
        "root": root,
        "files": {
            "text": texts[:-1],
            "tiny": texts[-1:],
            "sort": [j[0] for j in sort_jobs],
            "users": upaths,
            "orders": opaths,
        },
        "sort": {"records": nrec * len(sort_jobs),
                 "checksum": sum(sums) & 0xFFFFFFFFFFFFFFFF},
        "join": {"rows": rows, "digest": digest},
        "grep_pattern": GREP_PATTERN.decode(),
        "generated_in_s": round(time.time() - t0, 1),
    }
    manifest["bytes"] = {k: sum(os.path.getsize(p) for p in v)
                         for k, v in manifest["files"].items()}
    with open(mpath + ".partial", "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(mpath + ".partial", mpath)
    log("generated in %.1f s" % (time.time() - t0))
    return manifest


def fingerprint(paths):
    """Cheap identity of a set of files (names, sizes, mtimes)."""
    h = hashlib.sha1()
    for p in paths:
        st = os.stat(p)
        h.update(("%s %d %d\n" % (p, st.st_size, int(st.st_mtime))).encode())
    return h.hexdigest()[:16]


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="generate the benchmark corpus")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    m = generate("quick" if a.quick else "full", a.dir, a.seed)
    print(json.dumps({k: m[k] for k in ("root", "bytes", "sort", "join")}, indent=1))
