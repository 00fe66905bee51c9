"""Where the time goes: py-spy over the whole cluster while a workload runs.

``python -m bench --profile [--only wordcount,tasks]`` records every Disco process (master, node,
workers: ``py-spy record --subprocesses --pid <master>``) in py-spy's raw (collapsed stacks)
format and prints, for each role, the functions with the most samples: *self* (the frame was
running) and *total* (the frame was on the stack), as percentages of that role's samples.
``python -m bench.profile FILE.txt`` summarizes a recorded file again.

py-spy is installed from PyPI (``pip install py-spy``); without it ``--profile`` says so.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter, defaultdict

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def available():
    return shutil.which("py-spy") is not None


class Recorder:
    """``py-spy record`` of a process and its descendants, as a context manager."""

    def __init__(self, pid, out, rate=97, idle=False):
        self.pid, self.out, self.rate, self.idle = pid, out, rate, idle
        self.proc = None

    def __enter__(self):
        cmd = ["py-spy", "record", "--pid", str(self.pid), "--subprocesses", "--format", "raw",
               "--rate", str(self.rate), "--output", self.out, "--nonblocking"]
        if self.idle:
            cmd.append("--idle")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return False


def _role(procs):
    """Role of the innermost of the nested ``process PID:"cmdline"`` frames (py-spy
    --subprocesses: master > node > [fork server >] worker)."""
    last = procs[-1]
    if "disco master" in last:
        return "master"
    if "disco node" in last:
        return "node"
    if "forkserver" in last and sum("forkserver" in p for p in procs) == 1:
        return "forkserver"
    return "worker"


def _short(frame):
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("/disco/", "/clx/", "/bench/", "/site-packages/", "/lib/python3"):
        i = path.rfind(marker)
        if i >= 0:
            path = path[i + 1:]
            break
    return "%s:%s" % (path, m.group("func"))


def summarize(path, top=15):
    """``{role: {"samples": n, "self": [(func, pct)], "total": [(func, pct)]}}``."""
    samples = Counter()
    selfs = defaultdict(Counter)
    totals = defaultdict(Counter)
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            try:
                n = int(count)
            except ValueError:
                continue
            frames = stack.split(";")
            procs = []
            while frames and frames[0].startswith("process "):
                procs.append(frames.pop(0))
            role = _role(procs) if procs else "worker"
            if frames and frames[0].startswith("thread "):
                frames = frames[1:]
            frames = [_short(fr) for fr in frames]
            samples[role] += n
            if frames:
                selfs[role][frames[-1]] += n
            for fr in set(frames):
                totals[role][fr] += n
    out = {}
    for role, n in samples.items():
        out[role] = {
            "samples": n,
            "self": [(fn, 100.0 * c / n) for fn, c in selfs[role].most_common(top)],
            "total": [(fn, 100.0 * c / n) for fn, c in totals[role].most_common(top)],
        }
    return out


def format_summary(summary, title=""):
    lines = []
    if title:
        lines.append(title)
    order = ["master", "node", "forkserver", "worker"]
    for role in sorted(summary, key=lambda r: order.index(r) if r in order else 9):
        s = summary[role]
        lines.append("  %s: %d samples" % (role, s["samples"]))
        lines.append("    self:")
        for fn, pct in s["self"]:
            lines.append("      %5.1f%%  %s" % (pct, fn))
        lines.append("    total (on stack):")
        for fn, pct in s["total"]:
            lines.append("      %5.1f%%  %s" % (pct, fn))
    return "\n".join(lines)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(format_summary(summarize(p), os.path.basename(p)))
