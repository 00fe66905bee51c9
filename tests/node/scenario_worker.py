#!/usr/bin/env python3
# disco-python-worker
"""A test worker executable: speaks the worker protocol with raw framing (stdlib only).

It is put into a test job pack as the job's worker; the scenario comes from the jobenv
SCENARIO. It writes what it received to `received.json` in its cwd (the job home) so tests
can check replies.
"""
import json
import os
import subprocess
import sys
import time

OUT = sys.stderr.buffer
IN = sys.stdin.buffer
LOG = []


def send(name, payload=""):
    body = json.dumps(payload).encode()
    OUT.write(b"%s %d %s\n" % (name.encode(), len(body), body))
    OUT.flush()


def read_field():
    field = b""
    while True:
        c = IN.read(1)
        if not c:
            raise SystemExit(5)
        if c == b" ":
            return field
        field += c


def recv():
    name = read_field().decode()
    length = int(read_field())
    body = IN.read(length + 1)
    reply = [name, json.loads(body[:-1])]
    LOG.append(reply)
    with open("received-%s.json" % os.environ["SCENARIO"], "w") as f:
        json.dump(LOG, f)
    return reply


def call(name, payload=""):
    send(name, payload)
    return recv()


def hello():
    return call("WORKER", {"version": "1.1", "pid": os.getpid()})


def clean():
    hello()
    _, task = call("TASK")
    _, (flag, inputs) = call("INPUT")
    call("MSG", "hello from %s" % task["stage"])
    os.makedirs("out", exist_ok=True)
    with open("out/a", "w") as f:
        f.write("12345")
    call("OUTPUT", [0, "out/a", 5])
    call("OUTPUT", [1, "out/b", 7])
    call("OUTPUT", [1, "out/c", 3])
    call("OUTPUT", [2, "http://elsewhere/x", 9])
    call("PING", "")
    send("DONE")
    time.sleep(60)


def deferred():
    hello()
    call("TASK")
    _, (flag, inputs) = call("INPUT")
    call("MSG", json.dumps([flag, inputs]))
    send("DONE")
    time.sleep(60)


def input_err():
    hello()
    call("TASK")
    call("INPUT")
    call("INPUT_ERR", [0, [0]])
    call("INPUT_ERR", [0, [0, 1]])
    send("DONE")
    time.sleep(60)


def garbage():
    hello()
    OUT.write(b"script.py:3: DeprecationWarning: something is deprecated\n")
    OUT.flush()
    time.sleep(60)


def garbage_exit():
    hello()
    OUT.write(b"Traceback (most recent call last):\n  boom\n")
    OUT.flush()
    raise SystemExit(1)


def midmessage_exit():
    hello()
    OUT.write(b'MSG 100 "abc')
    OUT.flush()
    raise SystemExit(3)


def midmessage_stuck():
    hello()
    OUT.write(b'MSG 100 "abc')
    OUT.flush()
    time.sleep(60)


def crash():
    hello()
    call("TASK")
    raise SystemExit(3)


def flood():
    hello()
    for i in range(100):
        call("MSG", "line %d" % i)
    send("DONE")
    time.sleep(60)


def slow_start():
    time.sleep(60)


def grandchildren():
    hello()
    pids = [subprocess.Popen(["sleep", "1000"]).pid for _ in range(3)]
    # a grandchild that forks again (a great-grandchild)
    pids.append(subprocess.Popen(["sh", "-c", "sleep 1000 & sleep 1000"]).pid)
    call("MSG", json.dumps(pids))
    time.sleep(60)


def absolute_output():
    hello()
    call("OUTPUT", [0, "/etc/passwd", 5])
    time.sleep(60)


def unknown():
    hello()
    send("BOGUS", "x")
    time.sleep(60)


def bad_json():
    hello()
    OUT.write(b"MSG 3 abc\n")
    OUT.flush()
    time.sleep(60)


def bad_version():
    call("WORKER", {"version": "0.9", "pid": os.getpid()})
    time.sleep(60)


def error():
    hello()
    send("ERROR", "could not read input")
    time.sleep(60)


def fatal():
    hello()
    send("FATAL", "user code raised")
    time.sleep(60)


def sleeper():
    hello()
    call("TASK")
    time.sleep(60)


def startup():
    hello()
    send("DONE")
    time.sleep(60)


def big_input():
    hello()
    _, (flag, inputs) = call("INPUT")
    call("MSG", "%s %d" % (flag, len(inputs)))
    send("DONE")


def pipelined():
    hello()
    for i in range(7):
        send("MSG", "line %d" % i)
    send("PING")
    replies = [recv() for _ in range(8)]
    call("MSG", json.dumps(replies))
    send("DONE")


def orphaned_output():
    hello()
    subprocess.Popen(["sleep", "30"])  # inherits stdout and stderr: the pipe stays open
    raise SystemExit(3)


globals()[os.environ["SCENARIO"]]()
