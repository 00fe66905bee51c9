#!/usr/bin/env python3
"""A worker that does not import disco (as one in another language would): it speaks the
worker protocol itself and, when the node grants it (DISCO_WORKER_COUNTERS=1), reports
counters with two COUNTERS messages whose values add up (docs/counters.md)."""
import json
import os
import sys

OUT, IN = sys.stderr.buffer, sys.stdin.buffer


def field():
    data = b""
    while True:
        c = IN.read(1)
        if not c:
            raise SystemExit(5)
        if c == b" ":
            return data
        data += c


def call(name, payload=""):
    body = json.dumps(payload).encode()
    OUT.write(b"%s %d %s\n" % (name.encode(), len(body), body))
    OUT.flush()
    field()
    length = int(field())
    return json.loads(IN.read(length + 1)[:-1])


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
    OUT.write(b"DONE 2 \"\"\n")
    OUT.flush()


main()
