"""Peak memory (RSS) of process trees, sampled from /proc.

A background thread walks the descendants of given root processes every ``interval`` seconds and
keeps, for each group (e.g. ``master``, ``node``, ``workers``), the peak RSS of any one process of
the group and the peak of the group's summed RSS.  Each process's own high-water mark (``VmHWM``)
is read too, so a short-lived worker's peak is seen up to the last sample before it exits.
"""
import os
import threading
import time


def _status(pid):
    """(VmRSS, VmHWM) in bytes, or None if the process is gone."""
    try:
        with open("/proc/%d/status" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    rss = hwm = 0
    for line in data.split(b"\n"):
        if line.startswith(b"VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith(b"VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    return rss, hwm


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """user + system CPU seconds of a process (not its children), or None if gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def children(pid):
    out = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children(p):
            out.append(c)
            todo.append(c)
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def reset_peak(pid):
    """Reset a process's VmHWM (root, Linux >= 4.0); ignore failures."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
    except OSError:
        pass


class Sampler:
    """``groups()`` returns ``{group: [pid, ...]}`` of the processes to sample right now."""

    def __init__(self, groups, interval=0.05):
        self.groups = groups
        self.interval = interval
        self.peak_proc = {}
        self.peak_sum = {}
        self.pids = {}
        self.cpu_first = {}
        self.cpu_last = {}
        self._first_round = True
        self._stop = threading.Event()
        self._thread = None

    def sample(self):
        for group, pids in self.groups().items():
            total = 0
            seen = self.pids.setdefault(group, set())
            for pid in pids:
                st = _status(pid)
                if st is None:
                    continue
                rss, hwm = st
                cpu = cpu_seconds(pid)
                if cpu is not None:
                    key = (group, pid)
                    if key not in self.cpu_first:
                        # a process already running when sampling began counts from then on
                        self.cpu_first[key] = cpu if self._first_round else 0.0
                    self.cpu_last[key] = cpu
                seen.add(pid)
                total += rss
                if max(rss, hwm) > self.peak_proc.get(group, 0):
                    self.peak_proc[group] = max(rss, hwm)
            if total > self.peak_sum.get(group, 0):
                self.peak_sum[group] = total
        self._first_round = False

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                self.sample()
            except Exception:   # a process vanished mid-walk: next round
                pass
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t)))

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, name="memsample", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        try:
            self.sample()
        except Exception:
            pass

    def cpu(self, group):
        """CPU seconds the group's processes used while sampled (a short-lived process's
        last interval before it exits is missed)."""
        return sum(last - self.cpu_first[key] for key, last in self.cpu_last.items()
                   if key[0] == group)

    def result(self):
        """``{group: {"peak_rss": bytes (one process), "peak_sum": bytes, "procs": n,
        "cpu_s": seconds}}``."""
        return {g: {"peak_rss": self.peak_proc.get(g, 0), "peak_sum": self.peak_sum.get(g, 0),
                    "procs": len(self.pids.get(g, ())), "cpu_s": round(self.cpu(g), 3)}
                for g in set(self.peak_proc) | set(self.peak_sum) | set(self.pids)}


def tree_groups(root_pid):
    """Groups for one process tree: the root and all its descendants together."""
    def groups():
        return {"total": [root_pid] + descendants(root_pid)}
    return groups
