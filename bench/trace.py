"""Where a trivial task's time goes: ``python -m bench.trace [--tasks N] [--workers W]``.

Starts a local cluster (one node ``localhost`` co-located with the master, W slots), runs a
job of N trivial ``raw://`` map tasks, and splits the wall time using the master's task
timeline (``/disco/ctrl/jobtasks``: ``start`` = the master assigned the task, ``end`` = its
``task_done`` arrived):

* **in task**: assign -> task_done (websocket to the node, fork, worker protocol, index
  file, websocket back);
* **between tasks**: a slot's previous task_done -> its next assignment (the master's
  scheduling latency; 0 when the master reassigns at once);
* **busy**: sum of in-task time / (slots x job span): below 1 means slots sat idle.

It also reports CPU seconds of the master, node (with its fork server) and workers, so a
loaded machine (other test runs) can be told apart from latency.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request

from disco.testing.cluster import LocalCluster, descendants, read_stat

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids) -> float:
    total = 0.0
    for pid in pids:
        stat = read_stat(pid)
        if stat:
            total += sum(int(v) for v in stat[11:15]) / _TICKS  # utime stime cutime cstime
    return total


def slot_gaps(tasks: list[dict], slots: int) -> list[float]:
    """Idle time between consecutive tasks of one slot (a greedy replay of the timeline)."""
    free: list[float] = []          # end times of the tasks occupying the slots
    gaps = []
    for task in sorted(tasks, key=lambda t: t["start"]):
        if len(free) < slots:
            free.append(task["end"])
            continue
        free.sort()
        gaps.append(max(0.0, task["start"] - free[0]))
        free[0] = task["end"]
    return gaps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    from bench.workloads import Trivial
    with tempfile.TemporaryDirectory(prefix="disco-trace-") as root:
        cluster = LocalCluster(root, hosts=("localhost",), workers=args.workers,
                               settings={"DISCO_DEBUG": "off"})
        with cluster:
            cluster.wait_for_nodes()
            procs = {cluster.process.pid} | descendants([cluster.process.pid])
            cpu0 = cpu_seconds(procs)
            node = cluster.node_pid("localhost")
            master0, node0 = cpu_seconds([cluster.process.pid]), cpu_seconds([node])
            started = time.perf_counter()
            job = Trivial(master=cluster.master_url).run(
                input=["raw://%d" % i for i in range(args.tasks)])
            job.wait()
            wall = time.perf_counter() - started
            procs |= descendants([cluster.process.pid])
            cpu = cpu_seconds(procs) - cpu0
            master_cpu = cpu_seconds([cluster.process.pid]) - master0
            node_cpu = cpu_seconds([node]) - node0
            with urllib.request.urlopen(f"{cluster.master_url}/disco/ctrl/jobtasks?name="
                                        f"{job.name}") as reply:
                info = json.load(reply)
            tasks = [t for t in info["tasks"] if t["start"] and t["end"]]
            durations = [t["end"] - t["start"] for t in tasks]
            span = max(t["end"] for t in tasks) - min(t["start"] for t in tasks)
            gaps = slot_gaps(tasks, args.workers)
            print(f"{args.tasks} tasks, {args.workers} slots: wall {wall:.2f} s "
                  f"({args.tasks / wall:.1f} tasks/s), job span {span:.2f} s, "
                  f"cluster CPU {cpu:.2f} s (master {master_cpu:.2f} s, node {node_cpu:.2f} s; "
                  f"not counting exited workers' children)")
            print(f"in task (assign -> task_done): median {statistics.median(durations)*1e3:.1f}"
                  f" ms, p90 {sorted(durations)[int(len(durations)*0.9)]*1e3:.1f} ms")
            if gaps:
                print(f"between tasks on a slot: median {statistics.median(gaps)*1e3:.1f} ms, "
                      f"mean {statistics.mean(gaps)*1e3:.1f} ms")
            print(f"slots busy: {sum(durations) / (args.workers * span) * 100:.0f} %")
            print(f"submission -> first assignment: "
                  f"{(min(t['start'] for t in tasks) - info['start']) * 1e3:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
