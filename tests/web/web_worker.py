#!/usr/bin/env python3
"""A stdlib worker for the web UI's cluster tests: each input `raw://SECONDS` sleeps that long.

It speaks the worker protocol directly (no disco import), so the browser tests need only the
master and nodes. Every task writes one output and says what it does with MSG.
"""
import os
import time

from worker_protocol import call, done  # shipped beside this file in the job home


def main():
    call("WORKER", {"version": "1.1", "pid": os.getpid()})
    task = call("TASK")
    _, inputs = call("INPUT")
    stage, taskid = task.get("stage", "map"), task.get("taskid", 0)
    for _, _, _, replicas in inputs:
        url = replicas[0][1]
        if stage == "map" and url.startswith("raw://"):
            seconds = float(url[len("raw://"):] or 0)
            call("MSG", "sleeping %s s for input %s" % (seconds, url))
            time.sleep(seconds)
    os.makedirs("web-out", exist_ok=True)
    path = "web-out/%s-%s" % (stage, taskid)
    with open(path, "w") as f:
        f.write("%s %s\n" % (stage, taskid))
    call("OUTPUT", [0, path, os.path.getsize(path)])
    done()
    time.sleep(30)


main()
