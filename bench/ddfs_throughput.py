"""Push and get of a set of blobs (1 GB, or 64 MB with --quick) through DDFS on a LocalCluster,
against a plain file copy of the same data on the same disk.

    python bench/ddfs_throughput.py [--quick] [--replicas N]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from disco.ddfs import DDFS
from disco.settings import DiscoSettings
from disco.testing.cluster import LocalCluster

HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


def make_files(directory: str, total: int, count: int) -> list[str]:
    paths = []
    for i in range(count):
        path = os.path.join(directory, f"part{i}")
        with open(path, "wb") as f:
            f.write(os.urandom(total // count))
        paths.append(path)
    return paths


def timed(label: str, size: int, fn) -> float:
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    print(f"{label:<28} {elapsed:7.2f} s  {size / elapsed / 2**20:8.1f} MB/s")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="64 MB instead of 1 GB")
    parser.add_argument("--replicas", type=int, default=1)
    args = parser.parse_args()
    total = (64 if args.quick else 1024) * 2**20
    with tempfile.TemporaryDirectory(prefix="ddfs-bench-") as tmp:
        src_dir = os.path.join(tmp, "src")
        os.makedirs(src_dir)
        paths = make_files(src_dir, total, 16)
        copy_dir = os.path.join(tmp, "copy")
        os.makedirs(copy_dir)
        timed("plain copy", total, lambda: [shutil.copy(p, copy_dir) for p in paths])
        copy_fsync = timed("cp + fsync", total, lambda: copy_and_sync(paths, copy_dir))
        cluster = LocalCluster(os.path.join(tmp, "cluster"), hosts=HOSTS,
                               settings={"DDFS_BLOB_REPLICAS": args.replicas})
        cluster.start(timeout=60)
        try:
            cluster.wait_for_nodes(timeout=60)
            ddfs = DDFS(settings=DiscoSettings(**cluster.env))
            push = timed(f"ddfs push (x{args.replicas})", total,
                         lambda: ddfs.push("bench:data", paths))
            # the target: push >= 50 % of cp + fsync (measured again now: the
            # machine drifts) -- ratio of throughputs
            again = timed("cp + fsync (again)", total, lambda: copy_and_sync(paths, copy_dir))
            print(f"push / (cp + fsync): {min(copy_fsync, again) / push:.2f} "
                  f"(first {copy_fsync / push:.2f}, again {again / push:.2f})")
            timed("ddfs get (pull)", total, lambda: [
                _drain(f) for f in ddfs.pull("bench:data")])
        finally:
            cluster.stop(check_leaks=False)


def copy_and_sync(paths: list[str], directory: str) -> None:
    """`cp` of every file, each written file fsync'ed (what DDFS promises of a stored blob)."""
    for path in paths:
        target = os.path.join(directory, os.path.basename(path) + ".sync")
        shutil.copyfile(path, target)
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _drain(f) -> None:
    while f.read(1 << 20):
        pass


if __name__ == "__main__":
    main()
