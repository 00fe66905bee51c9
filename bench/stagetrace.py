"""The task timeline of the Stage-API workloads: ``python -m bench.stagetrace [--quick]``.

Runs ``wordcount-pipeline``, ``grep-pipeline`` and ``distinct-pipeline`` once each on a fresh
local cluster (2 slots) and prints, per stage, when its tasks were assigned and done (seconds
from the job's submission, the master's ``/disco/ctrl/jobtasks``), so the map stage, the
reduce stage, the gap between them and the serial tail can be told apart.
"""
import argparse
import json
import sys
import tempfile
import time
import urllib.request

from bench import corpus
from bench.workloads import DistinctPipeline, GrepPipeline, WordCountPipeline
from disco.testing.cluster import LocalCluster

JOBS = {"wordcount-pipeline": WordCountPipeline, "grep-pipeline": GrepPipeline,
        "distinct-pipeline": DistinctPipeline}


def stage_lines(info):
    """``stage: n tasks, assigned a-b, done c-d`` per stage, in order of first assignment."""
    stages = {}
    for task in info["tasks"]:
        if task["start"] and task["end"]:
            stages.setdefault(task["stage"], []).append(task)
    start = info["start"]
    for name, tasks in sorted(stages.items(), key=lambda s: min(t["start"] for t in s[1])):
        first = min(t["start"] for t in tasks) - start
        last = max(t["start"] for t in tasks) - start
        done = sorted(t["end"] - start for t in tasks)
        longest = max(t["end"] - t["start"] for t in tasks)
        yield (f"  {name}: {len(tasks)} tasks, assigned {first:.2f}-{last:.2f} s, "
               f"done {done[0]:.2f}-{done[-1]:.2f} s, longest task {longest:.2f} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(JOBS))
    args = parser.parse_args(argv)
    manifest = corpus.generate("quick" if args.quick else "full", corpus.DEFAULT_DIR, 42)
    paths = [[p] for p in manifest["files"]["text"]]
    with tempfile.TemporaryDirectory(prefix="disco-stagetrace-") as root:
        with LocalCluster(root, hosts=("localhost",), workers=2,
                          settings={"DISCO_DEBUG": "off"}) as cluster:
            cluster.wait_for_nodes()
            for name in args.only.split(","):
                started = time.perf_counter()
                job = JOBS[name](master=cluster.master_url).run(input=paths)
                job.wait()
                wall = time.perf_counter() - started
                with urllib.request.urlopen(f"{cluster.master_url}/disco/ctrl/jobtasks?name="
                                            f"{job.name}") as reply:
                    info = json.load(reply)
                print(f"{name}: wait() after {wall:.2f} s")
                for line in stage_lines(info):
                    print(line)


if __name__ == "__main__":
    sys.exit(main())
