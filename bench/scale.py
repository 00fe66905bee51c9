"""Scheduling at scale: many simulated nodes on loopback addresses.

``python -m bench.scale [--nodes 1,10,100] [--slots 3] [--tasks 1000,10000]`` starts, for each
node count N, a LocalCluster whose N node processes listen on 127.0.1.1 .. 127.0.1.N with
``--slots`` worker slots each, and measures:

* cluster start-up (master up, every node connected) and the master's idle RSS;
* scheduling latency: submit-to-results time of a one-task job (median of ``--latency-runs``);
* for each task count T: a job of T trivial map tasks (``raw://`` inputs), its wall time,
  tasks/s, the master's peak RSS while it runs and its RSS afterwards, the nodes' peak RSS.

Everything runs on this machine (2 cores): the figures measure the master's and nodes'
overheads, not a real cluster's parallelism.  Results go to ``bench/results/scale-*.json``.
"""
import argparse
import json
import os
import statistics
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import memsample
from bench.run import RESULTS_DIR, DiscoCluster, fmt_bytes, job_failure, log


def hosts(n):
    return ["127.0.1.%d" % i for i in range(1, n + 1)]


def rss(pid):
    st = memsample._status(pid)
    return st[0] if st else 0


def trivial_job(master, ntasks):
    from bench.workloads import Trivial
    from disco.core import result_iterator
    t0 = time.perf_counter()
    job = Trivial(master=master).run(input=["raw://%d" % i for i in range(ntasks)])
    results = job.wait()
    t1 = time.perf_counter()
    n = sum(1 for _ in result_iterator(results))
    if n != ntasks:
        raise AssertionError("%d results for %d tasks" % (n, ntasks))
    return t1 - t0, job


def measure(nodes, slots, tasks, latency_runs):
    row = {"nodes": nodes, "slots": slots}
    t0 = time.perf_counter()
    with DiscoCluster(workers=slots, hosts=hosts(nodes)) as cluster:
        row["startup_s"] = time.perf_counter() - t0
        groups = cluster.groups()
        master = groups["master"][0]
        row["master_idle_rss"] = rss(master)
        row["node_rss_mean"] = statistics.mean(rss(p) for p in groups["node"]) \
            if groups["node"] else 0
        log("%d nodes up in %.1fs; master %s, node %s" % (
            nodes, row["startup_s"], fmt_bytes(row["master_idle_rss"]),
            fmt_bytes(row["node_rss_mean"])))
        lat = []
        for _ in range(latency_runs):
            wall, job = trivial_job(cluster.master, 1)
            lat.append(wall)
            job.purge()
        row["one_task_job_s"] = statistics.median(lat)
        row["one_task_runs_s"] = [round(x, 3) for x in lat]
        log("  one-task job: median %.3fs %s" % (row["one_task_job_s"], row["one_task_runs_s"]))
        row["jobs"] = []
        for ntasks in tasks:
            memsample.reset_peak(master)
            with memsample.Sampler(cluster.groups, interval=0.1) as sampler:
                try:
                    wall, job = trivial_job(cluster.master, ntasks)
                    err = None
                except Exception as e:  # report and go on
                    wall, job, err = None, None, "%s: %s" % (type(e).__name__, e)
                    why = job_failure(cluster.master, str(e))
                    if why:
                        err += " -- " + why
                        log(why)
            mem = sampler.result()
            r = {"tasks": ntasks, "wall_s": wall, "error": err,
                 "tasks_per_s": ntasks / wall if wall else None,
                 "master_peak_rss": mem.get("master", {}).get("peak_rss"),
                 "master_rss_after": rss(master),
                 "node_peak_rss": mem.get("node", {}).get("peak_rss"),
                 "workers_peak_sum": mem.get("workers", {}).get("peak_sum")}
            if job is not None:
                job.purge()
            r["master_rss_after_purge"] = rss(master)
            row["jobs"].append(r)
            log("  %d tasks: %s" % (ntasks, err or "%.1fs, %.0f tasks/s, master peak %s" % (
                wall, r["tasks_per_s"], fmt_bytes(r["master_peak_rss"]))))
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", default="1,10,100")
    ap.add_argument("--slots", type=int, default=3)
    ap.add_argument("--tasks", default="1000,10000")
    ap.add_argument("--latency-runs", type=int, default=5)
    a = ap.parse_args(argv)
    rows = []
    for n in [int(x) for x in a.nodes.split(",")]:
        try:
            rows.append(measure(n, a.slots, [int(x) for x in a.tasks.split(",")],
                                a.latency_runs))
        except Exception as e:
            log("%d nodes: %s: %s" % (n, type(e).__name__, e))
            rows.append({"nodes": n, "error": "%s: %s" % (type(e).__name__, e)})
    print("%6s %10s %12s %12s %8s %10s %11s %11s %11s" % (
        "nodes", "start s", "master idle", "1-task job", "tasks", "wall s", "tasks/s",
        "master peak", "master after"))
    for r in rows:
        if r.get("error"):
            print("%6d  FAILED: %s" % (r["nodes"], r["error"]))
            continue
        for j in r["jobs"]:
            print("%6d %10.1f %12s %11.3fs %8d %10s %11s %11s %11s" % (
                r["nodes"], r["startup_s"], fmt_bytes(r["master_idle_rss"]),
                r["one_task_job_s"], j["tasks"],
                "%.2f" % j["wall_s"] if j["wall_s"] else "-",
                "%.0f" % j["tasks_per_s"] if j["tasks_per_s"] else j["error"][:40],
                fmt_bytes(j["master_peak_rss"]), fmt_bytes(j["master_rss_after"])))
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, "scale-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    with open(path, "w") as f:
        json.dump({"args": vars(a), "rows": rows}, f, indent=1)
    print("results: %s" % path)


if __name__ == "__main__":
    main()
