"""The benchmark suite runner: ``python -m bench [--quick]`` (or ``python bench/run.py``).

1. generates (or reuses) the deterministic corpus under ``--data`` (default /tmp/disco-bench);
2. computes the reference answers (single-process baseline, cached beside the corpus);
3. runs every workload with the plain-Python baselines (``single``, ``pool2``), with Dask and
   PySpark where installed, and on a local Disco cluster that it starts itself
   (``disco.testing.LocalCluster``), ``--repeat`` times each (median reported);
4. checks every answer, samples peak RSS (master, node, workers; baseline process trees),
   prints a table with throughput ratios and the targets, and writes JSON to ``bench/results/``.
"""
import argparse
import contextlib
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback

if __package__ in (None, ""):   # python bench/run.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import baselines, checks, corpus, memsample

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "bench", "results")
MiB = 1 << 20

#: every workload, in run order; variants (name-variant) share the base workload's reference
WORKLOADS = ["tiny", "tiny-process", "wordcount", "wordcount-pipeline", "grep", "grep-pipeline",
             "distinct",
             "distinct-pipeline", "join", "chain", "tasks", "sort"]
BASELINE_IMPLS = ["single", "pool2"]
FLOOR_IMPLS = ["floor"]          # bench/floor.py: the classic jobs' own code, no engine
#: the workloads written as classic jobs (the floor runs their functions)
CLASSIC = ["tiny", "tiny-process", "wordcount", "grep", "distinct", "join", "chain", "tasks",
           "sort"]
OTHER_IMPLS = ["dask", "spark-rdd", "spark-df"]

def base(workload):
    return workload.split("-")[0]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- reference answers


def reference(workload, manifest):
    """The reference answer (single-process baseline), cached beside the corpus."""
    w = base(workload)
    if w in ("sort", "join"):
        return None                 # checked against the manifest
    path = os.path.join(manifest["root"], "reference-%s.pkl" % w)
    if os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f)
    with tempfile.TemporaryDirectory(dir=manifest["root"]) as tmp:
        ans = baselines.run(w, "single", manifest, tmp)
    with open(path + ".partial", "wb") as f:
        pickle.dump(ans, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(path + ".partial", path)
    return ans


def check(workload, answer, manifest, ntasks=None):
    w = base(workload)
    if w == "sort" and isinstance(answer, list):      # baseline: list of output files
        answer = checks.check_sorted_files(answer)
    if w == "tasks" and ntasks:
        return checks.compare(w, answer, (ntasks, ntasks * (ntasks - 1) // 2), manifest)
    return checks.compare(w, answer, reference(workload, manifest), manifest)


# --------------------------------------------------------------------------- one measurement


def _row(workload, impl, manifest, wall, answer=None, error=None, memory=None, extra=None):
    nbytes = baselines.input_bytes(base(workload), manifest)
    row = {"workload": workload, "impl": impl, "wall_s": wall, "input_bytes": nbytes,
           "memory": memory or {}, "error": error, "check": None, "ok": False}
    if extra:
        row.update(extra)
    if error is None:
        try:
            row["check"] = check(workload, answer, manifest, row.get("tasks"))
            row["ok"] = True
        except checks.CheckFailed as e:
            row["error"] = "WRONG RESULT: %s" % e
    return row


def run_subprocess_impl(module, workload, impl, manifest, timeout):
    """A baseline / Dask / Spark run as its own process, its process tree sampled."""
    with tempfile.TemporaryDirectory(dir=manifest["root"]) as tmp:
        out = os.path.join(tmp, "answer.pkl")
        mpath = os.path.join(manifest["root"], "manifest.json")
        cmd = [sys.executable, "-m", module, base(workload), impl, mpath, out]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        with memsample.Sampler(memsample.tree_groups(proc.pid)) as sampler:
            try:
                output, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                output, _ = proc.communicate()
                return _row(workload, impl, manifest, None, error="timeout after %ds" % timeout)
        wall = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        mem = {"process tree": sampler.result().get("total", {})}
        # exact CPU time of the whole tree (every process of it has been waited for)
        mem["process tree"]["cpu_s"] = round(ru1.ru_utime + ru1.ru_stime - ru0.ru_utime
                                             - ru0.ru_stime, 3)
        if proc.returncode != 0:
            return _row(workload, impl, manifest, wall, memory=mem,
                        error="exit %d: %s" % (proc.returncode,
                                               output.decode(errors="replace")[-2000:]))
        with open(out, "rb") as f:
            res = pickle.load(f)
        answer = res["answer"]
        if base(workload) == "sort" and isinstance(answer, list):  # the files, before they go
            answer = checks.check_sorted_files(answer)
        return _row(workload, impl, manifest, wall, answer, memory=mem,
                    extra={"compute_s": res["compute_s"]})


# --------------------------------------------------------------------------- Disco


class DiscoCluster:
    """A local cluster started by the suite (``disco.testing.LocalCluster``: a real master
    process and one node process per host), and the grouping of its processes for sampling.

    While it runs, ``os.environ`` holds the cluster's settings (client code reads them)."""

    def __init__(self, workers=2, hosts=("localhost",), root=None, settings=None):
        from disco.testing import LocalCluster
        self._tmp = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="disco-bench-cluster-")
            root = self._tmp.name
        s = {"DISCO_DEBUG": "off"}
        s.update(settings or {})
        self.cluster = LocalCluster(root, hosts=tuple(hosts), workers=workers, settings=s)
        self.master = self.cluster.master_url
        self._saved_env = None

    def __enter__(self):
        self._saved_env = dict(os.environ)
        t0 = time.perf_counter()
        self.cluster.start(timeout=120)
        self.startup_s = time.perf_counter() - t0
        for key in list(os.environ):
            if key.startswith(("DISCO_", "DDFS_")):
                del os.environ[key]
        os.environ.update(self.cluster.env)
        return self

    def __exit__(self, *exc):
        try:
            self.cluster.stop()
        finally:
            os.environ.clear()
            os.environ.update(self._saved_env)
            if self._tmp is not None:
                self._tmp.cleanup()

    def logs(self):
        return self.cluster.logs()

    def groups(self):
        """``{"master": [pids], "node": [pids], "workers": [pids]}``: the master process (and
        any helper it runs), its node processes, and everything below the nodes (workers and
        their sort processes)."""
        proc = self.cluster.process
        out = {"master": [], "node": [], "workers": []}
        if proc is None:
            return out
        todo = [(proc.pid, "master")]
        while todo:
            pid, role = todo.pop()
            if role == "master" and " node " in memsample.cmdline(pid) + " ":
                role = "node"
            out[role].append(pid)
            child_role = "workers" if role in ("node", "workers") else "master"
            todo.extend((c, child_role) for c in memsample.children(pid))
        return out


def job_failure(master, message):
    """The last error event (and the last worker warning) of the job named in ``message``."""
    import re
    m = re.search(r"Job (\S+) failed", message)
    if not m:
        return None
    try:
        from disco.core import Disco
        events = [ev[2] for _, ev in Disco(master).events(m.group(1))]
    except Exception:
        return None
    errors = [e for e in events if e.startswith("ERROR")]
    warnings = [e for e in events if e.startswith("WARNING")]
    out = []
    if errors:
        out.append(errors[-1])
    if warnings:
        out.append(warnings[-1].strip().splitlines()[0] + " ... " +
                   warnings[-1].strip().splitlines()[-1])
    return " | ".join(out)[:1500] or None


def run_disco_workload(cluster, workload, manifest, args):
    from bench import workloads
    runner = workloads.RUNNERS[workload]
    paths = baselines.workload_inputs(base(workload), manifest)
    kw = {}
    if workload == "tasks":
        kw["ntasks"] = getattr(args, "tasks", None) or baselines.TASKS[manifest["params"]["mode"]]
    if workload == "sort":
        kw["max_mem"] = args.sort_mem * MiB
    for pids in cluster.groups().values():
        for pid in pids:
            memsample.reset_peak(pid)
    marks = {}
    jobs = []
    recorder = contextlib.nullcontext()
    prof_path = None
    if getattr(args, "profile", False):
        from bench import profile
        os.makedirs(RESULTS_DIR, exist_ok=True)
        prof_path = os.path.join(RESULTS_DIR, "profile-%s-%s.txt" % (
            workload, time.strftime("%Y%m%d-%H%M%S")))
        recorder = profile.Recorder(cluster.cluster.process.pid, prof_path)
    with recorder, memsample.Sampler(cluster.groups, interval=0.05) as sampler:
        t0 = time.perf_counter()
        try:
            answer, jobs = runner(cluster.master, paths, marks=marks, **kw)
            error = None
        except Exception as e:
            answer, error = None, "%s: %s" % (type(e).__name__, e)
            log(traceback.format_exc())
            why = job_failure(cluster.master, str(e))
            if why:
                error += " -- " + why
                log(why)
        wall = time.perf_counter() - t0
    extra = {}
    if "submit" in marks and "done" in marks:
        extra["job_s"] = marks["done"] - marks["submit"]
        extra["read_s"] = (t0 + wall) - marks["done"]
    extra["jobs"] = [getattr(j, "name", None) for j in jobs]
    if "phases" in marks:
        extra["phases"] = marks["phases"]
        log("  phases: " + ", ".join("%s %.3fs" % kv for kv in marks["phases"].items()))
    if prof_path and os.path.exists(prof_path):
        from bench import profile
        extra["profile"] = prof_path
        log(profile.format_summary(profile.summarize(prof_path),
                                   "profile of %s (%s):" % (workload, prof_path)))
    if workload == "tasks":
        extra["tasks"] = kw["ntasks"]
    row = _row(workload, "disco", manifest, wall, answer, error=error, memory=sampler.result(),
               extra=extra)
    if not args.keep_jobs:
        for j in jobs:
            try:
                j.purge()
            except Exception:
                pass
    return row


# --------------------------------------------------------------------------- report


def fmt_bytes(n):
    if not n:
        return "-"
    return "%.0fM" % (n / MiB) if n >= MiB else "%.0fK" % (n / 1024)


def throughput(row):
    if not row.get("wall_s"):
        return None
    if base(row["workload"]) == "tasks":
        return row["tasks"] / row["wall_s"] if row.get("tasks") else None
    return row["input_bytes"] / MiB / row["wall_s"]


def median_row(rows, stat="median"):
    """The run with the median (or least) wall time (errors win: a failed run is reported)."""
    bad = [r for r in rows if r["error"]]
    if bad:
        return bad[0]
    rows = sorted(rows, key=lambda r: r["wall_s"])
    r = dict(rows[0] if stat == "min" else rows[len(rows) // 2])
    r["runs_s"] = [round(x["wall_s"], 3) for x in rows]
    return r


def cpu(row):
    m = row.get("memory") or {}
    total = sum(g.get("cpu_s", 0) for g in m.values())
    return "%.1f" % total if total else "-"


def peak(row):
    m = row.get("memory") or {}
    if "process tree" in m:
        return "tree %s" % fmt_bytes(m["process tree"].get("peak_sum"))
    parts = []
    for g in ("master", "node", "workers"):
        if g in m:
            parts.append("%s %s" % (g[0], fmt_bytes(m[g].get("peak_rss"))))
    return " ".join(parts) or "-"


def table(rows):
    by = {}
    for r in rows:
        by.setdefault(r["workload"], {})[r["impl"]] = r
    lines = []
    hdr = "%-19s %-9s %8s %7s %14s %5s %5s %5s  %-22s %s" % (
        "workload", "impl", "wall s", "cpu s", "throughput", "/1p", "/2p", "/fl", "peak RSS",
        "check")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for w in WORKLOADS:
        if w not in by:
            continue
        b = base(w)
        for impl, r in sorted(by[w].items(), key=lambda kv: _impl_order(kv[0])):
            tp = throughput(r)
            unit = "tasks/s" if b == "tasks" else "MB/s"
            ratios = []
            for ref in ("single", "pool2", "floor"):
                rr = by.get(w, {}).get(ref) or by.get(b, {}).get(ref)
                if ref == "floor" and w not in CLASSIC:
                    rr = None   # the floor is the classic job's code
                if rr and rr.get("wall_s") and r.get("wall_s") and not r["error"]:
                    ratios.append("%.2f" % (rr["wall_s"] / r["wall_s"]))
                else:
                    ratios.append("-")
            lines.append("%-19s %-9s %8s %7s %14s %5s %5s %5s  %-22s %s" % (
                w, impl, "%.2f" % r["wall_s"] if r.get("wall_s") else "-", cpu(r),
                ("%.1f %s" % (tp, unit)) if tp else "-", ratios[0], ratios[1], ratios[2],
                peak(r),
                ("ok: " + r["check"]) if r["ok"] else ("FAIL: " + (r["error"] or "?"))[:200]))
    return "\n".join(lines)


def _impl_order(impl):
    order = BASELINE_IMPLS + FLOOR_IMPLS + OTHER_IMPLS + ["disco"]
    return order.index(impl) if impl in order else 99


def targets(rows, mode):
    by = {}
    for r in rows:
        by.setdefault(r["workload"], {})[r["impl"]] = r
    out = []

    def get(w, impl):
        r = by.get(w, {}).get(impl)
        return r if r and not r["error"] else None

    def against(w, ref, share):
        d, p = get(w, "disco"), get(base(w), ref)
        what = ">= %d%% of %s throughput" % (round(100 * share), ref)
        if w in by and "disco" in by[w]:
            if d and p:
                ratio = p["wall_s"] / d["wall_s"]
                out.append((w, what, ratio >= share,
                            "%.0f%% (%.2fs vs %.2fs)" % (100 * ratio, d["wall_s"], p["wall_s"])))
            else:
                out.append((w, what, False,
                            "no %s baseline in this run" % ref if d else "Disco run failed"))

    for w in ("wordcount", "grep", "distinct", "join", "sort"):
        against(w, "floor", 0.9)
    for w in ("wordcount-pipeline", "grep-pipeline", "distinct-pipeline"):
        against(w, "pool2", 0.95)
    if "tiny" in by and "disco" in by["tiny"]:
        d = get("tiny", "disco")
        out.append(("tiny", "1 MB job submit->results < 1 s", bool(d and d["wall_s"] < 1.0),
                    "%.2fs" % d["wall_s"] if d else "failed"))
    if "tiny-process" in by and "disco" in by["tiny-process"]:
        d = get("tiny-process", "disco")
        out.append(("tiny-process", "1 MB job, whole process < 0.4 s",
                    bool(d and d["wall_s"] < 0.4), "%.2fs" % d["wall_s"] if d else "failed"))
    if "tasks" in by and "disco" in by["tasks"]:
        d = get("tasks", "disco")
        tp = d and d["tasks"] / d["wall_s"]
        out.append(("tasks", ">= 1000 tasks/s", bool(d and tp >= 1000),
                    "%.0f tasks/s (%d tasks in %.2fs)" % (tp, d["tasks"], d["wall_s"])
                    if d else "failed"))
    if "sort" in by and "disco" in by["sort"]:
        d = by["sort"]["disco"]
        out.append(("sort", "1 GB sort, workers capped, in order", bool(d["ok"]),
                    "%.1fs, %s" % (d["wall_s"], d["check"]) if d["ok"] else d["error"]))
    lines = ["targets%s:" % (" (full-size targets; this is --quick)" if mode == "quick" else "")]
    for w, what, met, detail in out:
        lines.append("  %-6s %-19s %-38s %s" % ("MET" if met else "MISSED", w, what, detail))
    return "\n".join(lines), [{"workload": w, "target": what, "met": met, "detail": detail}
                             for w, what, met, detail in out]


# --------------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny inputs (a few MB; seconds)")
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all): "
                    + ",".join(WORKLOADS))
    ap.add_argument("--skip", default="", help="comma-separated workloads to leave out")
    ap.add_argument("--impls", default="single,pool2,floor,dask,spark-rdd,spark-df,disco",
                    help="implementations to run (default: all available)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each (median reported)")
    ap.add_argument("--stat", choices=("median", "min"), default="median",
                    help="which of the --repeat runs to report (min: on a busy machine)")
    ap.add_argument("--data", default=corpus.DEFAULT_DIR, help="corpus cache directory")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workers", type=int, default=2, help="worker slots of the local node")
    ap.add_argument("--sort-mem", type=int, default=256,
                    help="MiB of DISCO_WORKER_MAX_MEM for the sort job (0: no cap)")
    ap.add_argument("--tasks", type=int, default=None,
                    help="tasks of the 'tasks' workload (default 10000; quick 200)")
    ap.add_argument("--timeout", type=int, default=1800, help="s per baseline run")
    ap.add_argument("--keep-jobs", action="store_true", help="do not purge the Disco jobs")
    ap.add_argument("--out", default=None, help="JSON result file (default bench/results/...)")
    ap.add_argument("--no-json", action="store_true")
    ap.add_argument("--profile", action="store_true",
                    help="record the cluster's processes with py-spy during each Disco workload "
                    "and print the hot spots (bench/results/profile-*.txt)")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    mode = "quick" if args.quick else "full"
    selected = [w for w in WORKLOADS if not args.only or w in args.only.split(",")]
    selected = [w for w in selected if w not in args.skip.split(",")]
    unknown = set(filter(None, args.only.split(","))) - set(WORKLOADS)
    if unknown:
        sys.exit("unknown workload(s): %s" % ", ".join(sorted(unknown)))
    impls = args.impls.split(",")

    manifest = corpus.generate(mode, args.data, args.seed, log=log)
    for w in selected:
        reference(w, manifest)
    rows = []
    started = time.time()

    # baselines and optional frameworks
    for impl in [i for i in impls if i in BASELINE_IMPLS + FLOOR_IMPLS + OTHER_IMPLS]:
        module = ("bench.baselines" if impl in BASELINE_IMPLS else
                  "bench.floor" if impl in FLOOR_IMPLS else "bench.others")
        if impl in OTHER_IMPLS:
            from bench import others
            if not others.available(impl):
                log("%s: not installed, skipped" % impl)
                continue
        done = set()
        for w in selected:
            b = base(w)
            if b in done:
                continue
            if impl in OTHER_IMPLS:
                from bench import others
                if b not in others.SUPPORTED:
                    continue
            if impl in FLOOR_IMPLS and b not in CLASSIC:
                continue
            done.add(b)
            runs = []
            for i in range(args.repeat):
                log("%s %s run %d/%d ..." % (b, impl, i + 1, args.repeat))
                r = run_subprocess_impl(module, b, impl, manifest, args.timeout)
                if b == "tasks" and r.get("wall_s"):
                    r["tasks"] = baselines.TASKS[mode]
                log("  %s" % (("%.2fs " % r["wall_s"]) if r["wall_s"] else "") +
                    ("ok" if r["ok"] else r["error"]))
                runs.append(r)
            rows.append(median_row(runs, args.stat))

    # Disco
    cluster_info = {}
    if "disco" in impls:
        try:
            cluster = DiscoCluster(workers=args.workers)
            with cluster:
                cluster_info["startup_s"] = cluster.startup_s
                cluster_info["master"] = cluster.master
                log("cluster up in %.2fs at %s" % (cluster.startup_s, cluster.master))
                # first job on a fresh cluster (not counted in the tiny workload's median)
                first = run_disco_workload(cluster, "tiny", manifest, args)
                cluster_info["first_job_s"] = first["wall_s"]
                log("first (warm-up) tiny job: %.2fs %s" % (
                    first["wall_s"], "ok" if first["ok"] else first["error"]))
                for w in selected:
                    runs = []
                    for i in range(args.repeat):
                        log("%s disco run %d/%d ..." % (w, i + 1, args.repeat))
                        r = run_disco_workload(cluster, w, manifest, args)
                        log("  %.2fs %s" % (r["wall_s"], "ok" if r["ok"] else r["error"]))
                        runs.append(r)
                    rows.append(median_row(runs, args.stat))
        except Exception as e:
            log(traceback.format_exc())
            cluster_info["error"] = "%s: %s" % (type(e).__name__, e)
            for w in selected:
                if not any(r["workload"] == w and r["impl"] == "disco" for r in rows):
                    rows.append(_row(w, "disco", manifest, None,
                                     error="cluster: %s" % cluster_info["error"]))

    report = table(rows)
    ttext, tlist = targets(rows, mode)
    print()
    print("Disco benchmark suite, %s mode (%s; %d cores), corpus %s" % (
        mode, platform.python_version(), os.cpu_count(), manifest["root"]))
    if cluster_info.get("startup_s") is not None:
        print("cluster start-up %.2fs, first job %.2fs" % (
            cluster_info["startup_s"], cluster_info.get("first_job_s") or float("nan")))
    print(report)
    print("(/1p, /2p, /fl: speed relative to the single-process and 2-process baselines and to"
          " the classic job's own code without an engine (bench/floor.py), >1 = faster;"
          " peak RSS: m=master n=node w=largest worker)")
    print(ttext)
    result = {
        "mode": mode, "started": started, "elapsed_s": time.time() - started,
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "args": vars(args), "corpus": {k: manifest[k] for k in ("root", "bytes", "params")},
        "cluster": cluster_info, "rows": rows, "targets": tlist,
    }
    if not args.no_json:
        path = args.out or os.path.join(
            RESULTS_DIR, time.strftime("%Y%m%d-%H%M%S", time.localtime(started)) + "-%s.json"
            % mode)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(result, f, indent=1, default=str)
        print("results: %s" % path)
    ok = all(r["ok"] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
