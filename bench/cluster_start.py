"""Seconds to start and stop a 3-node test cluster: processes (LocalCluster) vs one event loop
(InProcessCluster, disco/testing/inprocess.py). `python bench/cluster_start.py [ROUNDS]`."""
from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time

from disco.testing import LocalCluster
from disco.testing.inprocess import InProcessCluster


def start_and_stop(kind: type) -> tuple[float, float]:
    began = time.perf_counter()
    cluster = kind(tempfile.mkdtemp(prefix="bench-start-")).start(timeout=60)
    up = time.perf_counter() - began
    cluster.stop()
    return up, time.perf_counter() - began


def main(rounds: int) -> None:
    logging.disable(logging.WARNING)
    for kind in (LocalCluster, InProcessCluster):
        runs = [start_and_stop(kind) for _ in range(rounds)]
        print(f"{kind.__name__:17} start {statistics.median(r[0] for r in runs):5.2f} s  "
              f"start+stop {statistics.median(r[1] for r in runs):5.2f} s  "
              f"(median of {rounds})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
