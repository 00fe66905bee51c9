#!/usr/bin/env python3
"""A worker that does not import disco (as one in another language would): it speaks the
worker protocol itself and, when the node grants it (DISCO_WORKER_COUNTERS=1), reports
counters with two COUNTERS messages whose values add up (docs/counters.md)."""
import os

from worker_protocol import call, done  # shipped beside this file in the job home


def main():
    call("WORKER", {"version": "1.1", "pid": os.getpid()})
    task = call("TASK")
    _, inputs = call("INPUT")
    lines = [url for _, _, _, replicas in inputs for _, url in replicas[:1]]
    if os.environ.get("DISCO_WORKER_COUNTERS") == "1":
        call("COUNTERS", {"foreign": {"inputs": len(lines)}, "disco": {"records_in": 10}})
        call("COUNTERS", {"foreign": {"inputs": 1, "tasks": 1}})
    path = "out-%s" % task["taskid"]
    with open(path, "w") as f:
        f.write("done\n")
    call("OUTPUT", [0, path, os.path.getsize(path)])
    done()


main()
