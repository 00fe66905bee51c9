"""Where a user's whole 1 MiB job process goes: ``python -m bench.blink [--runs N] [INPUT]``.

Starts a local cluster (one node ``localhost`` co-located with the master, 2 slots, as
``disco start`` does; or uses ``--master URL``), then runs ``bench/tinyjob.py`` as its own
process N times and puts every run on one clock (Unix seconds, from the moment the process
was spawned):

* the script's own stamps: first line, ``import disco.core`` done, ``Job().run`` returned,
  ``wait()`` returned, results read;
* the master's task timeline (``/disco/ctrl/jobtasks``: ``start`` = assigned to a node,
  ``end`` = its ``task_done`` arrived) for every task of the job;
* the process's exit as its parent saw it.

The first run on a fresh cluster also pays the node's first fork-server start; ``--runs``
prints each run and the median of every mark.  INPUT defaults to the bench corpus' tiny file.

``--compare NAME=PYTHON[:PYTHONPATH] ...`` (two or more) alternates clients instead, round by
round on the same cluster (ABAB: a before and an after tree, a regular and an editable
install), and prints each one's median phases and its fastest whole run.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tinyjob.py")


def run_once(master: str, inputs: list[str], python: str = sys.executable,
             env: dict[str, str] | None = None) -> dict[str, float]:
    """One whole-process run: its marks in seconds since the spawn."""
    with tempfile.TemporaryDirectory(prefix="disco-blink-") as tmp:
        out = os.path.join(tmp, "answer.pkl")
        run_env = dict(env if env is not None else os.environ, DISCO_MASTER=master)
        # disco:// result URLs are read from DISCO_PORT: the master's, as `disco start` has it
        run_env.setdefault("DISCO_PORT", str(urllib.parse.urlsplit(master).port or 8989))
        spawned = time.time()
        subprocess.run([python, SCRIPT, *inputs, out], check=True, cwd=tmp, env=run_env)
        exited = time.time()
        with open(out, "rb") as f:
            result = pickle.load(f)
    marks = {name: stamp - spawned for name, stamp in result["stamps"].items()}
    marks.update(task_marks(master, result["job"], spawned))
    marks["exit"] = exited - spawned
    return marks


def task_marks(master: str, job: str, origin: float) -> dict[str, float]:
    """``<stage>:<task> assigned`` and ``done`` marks of every task of ``job``."""
    with urllib.request.urlopen(f"{master}/disco/ctrl/jobtasks?name={job}") as reply:
        tasks = json.load(reply)["tasks"]
    marks = {}
    for task in sorted(tasks, key=lambda t: (t["start"] or 0, t["task"])):
        name = "{0}:{1}".format(task["stage"], task["task"])
        if task["start"]:
            marks[name + " assigned"] = task["start"] - origin
        if task["end"]:
            marks[name + " done"] = task["end"] - origin
    return marks


def report(runs: list[dict[str, float]]) -> str:
    """A table: one row per mark (in the order of the last run), one column per run, median."""
    names = sorted(runs[-1], key=runs[-1].get)
    lines = ["{0:<26} {1} {2:>8}".format(
        "mark (s since spawn)", " ".join("{0:>7}".format("run%d" % i) for i in range(len(runs))),
        "median")]
    for name in names:
        values = [run.get(name) for run in runs]
        known = [v for v in values if v is not None]
        cells = " ".join("{0:7.3f}".format(v) if v is not None else "      -" for v in values)
        lines.append("{0:<26} {1} {2:8.3f}".format(name, cells, statistics.median(known)))
    return "\n".join(lines)


PHASES = (("interpreter", None, "first line"), ("import", "first line", "imported"),
          ("run", "imported", "run returned"), ("cluster", "run returned", "wait returned"),
          ("results", "wait returned", "results read"), ("exit", "results read", "exit"),
          ("whole", None, "exit"))


def compare(runs: dict[str, list[dict[str, float]]]) -> str:
    """Median ms of each phase per client, and the fastest whole run."""
    lines = ["{0:<12} {1}  {2:>8}".format(
        "client", " ".join("{0:>11}".format(p[0]) for p in PHASES), "min")]
    for name, marks in runs.items():
        cells = []
        for _phase, start, end in PHASES:
            spans = [m[end] - (m[start] if start else 0.0) for m in marks]
            cells.append("{0:11.0f}".format(statistics.median(spans) * 1000))
        fastest = min(m["exit"] for m in marks) * 1000
        lines.append("{0:<12} {1}  {2:8.0f}".format(name, " ".join(cells), fastest))
    return "\n".join(lines)


def client_variants(specs: list[str]) -> dict[str, tuple[str, dict[str, str]]]:
    """``NAME=PYTHON[:PYTHONPATH]`` -> name: (python, environment without Disco settings)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DISCO_", "DDFS_"))}
    base.pop("PYTHONPATH", None)
    variants = {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        python, _, path = rest.partition(":")
        variants[name] = (python, dict(base, PYTHONPATH=path) if path else dict(base))
    return variants


def run_compared(master: str, inputs: list[str], specs: list[str],
                 rounds: int) -> dict[str, list[dict[str, float]]]:
    variants = client_variants(specs)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (python, env) in variants.items():
            runs[name].append(run_once(master, inputs, python, env))
    return runs


def default_input() -> str:
    from bench.corpus import generate
    manifest = generate("quick", log=lambda *a: None)
    return manifest["files"]["tiny"][0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--master", help="a running cluster (default: start a local one)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter that runs the job script (another venv)")
    parser.add_argument("--compare", nargs="+", metavar="NAME=PYTHON[:PYTHONPATH]",
                        help="alternate these clients, --runs rounds (ABAB)")
    args = parser.parse_args(argv)
    inputs = args.inputs or [default_input()]
    if args.compare:
        if not args.master:
            parser.error("--compare needs --master (a cluster of the tree under test)")
        print(compare(run_compared(args.master, inputs, args.compare, args.runs)))
        return
    if args.master:
        runs = [run_once(args.master, inputs, args.python) for _ in range(args.runs)]
    else:
        runs = run_on_local_cluster(inputs, args.runs, args.python)
    print(report(runs))


def run_on_local_cluster(inputs: list[str], count: int, python: str) -> list[dict]:
    from disco.testing.cluster import LocalCluster
    with tempfile.TemporaryDirectory(prefix="disco-blink-cluster-") as root:
        cluster = LocalCluster(root, hosts=("localhost",), workers=2,
                               settings={"DISCO_DEBUG": "off"})
        with cluster:
            cluster.wait_for_nodes()
            return [run_once(cluster.master_url, inputs, python, cluster.client_env())
                    for _ in range(count)]


if __name__ == "__main__":
    main()
