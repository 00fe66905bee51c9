#!/usr/bin/env python3
"""A stdlib worker for the web UI's cluster tests: each input `raw://SECONDS` sleeps that long.

It speaks the worker protocol directly (no disco import), so the browser tests need only the
master and nodes. Every task writes one output and says what it does with MSG.
"""
import json
import os
import sys
import time

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
    OUT.write(b"DONE 2 \"\"\n")
    OUT.flush()
    time.sleep(30)


main()
