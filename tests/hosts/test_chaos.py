"""The chaos suite: random faults at random moments on a cluster of namespace hosts.

Its own test mode (marker ``chaos``): ``pytest -m chaos tests/hosts`` (CI runs the short
version: `scripts/test.sh`). Every round runs a word count job (map, shuffle, reduce) and a
DDFS push of a blob with two replicas, and injects one fault into one node at a random
moment of them:

* ``kill_node``   SIGKILL of the node process (the master restarts it over ssh);
* ``kill_worker`` SIGKILL of the node's running workers;
* ``stop``        SIGSTOP of the node and its workers for `DISCO_CHAOS_STOP` s, then SIGCONT;
* ``link``        the host's link down for 2-10 s (its packets dropped), then up;
* ``disk``        the host's data disk (a 64 MB tmpfs) filled to the last byte for the round.

After every round: the job's result is exactly right and no word is counted twice, the job
ended (none is stuck: each has a deadline), every blob pushed so far is readable with its
replicas restored, no process is left over (each host's namespace returns to its process
count) and the node processes hold no more file descriptors than before.

Settings (environment): ``DISCO_CHAOS_ROUNDS`` (default 5: one round of each fault),
``DISCO_CHAOS_SEED`` (default 1; the plan of every round derives from it, so a failing run is
replayed with the same seed), ``DISCO_CHAOS_STOP`` (seconds of SIGSTOP, default 30; CI uses
5), ``DISCO_CHAOS_BUDGET`` (seconds; no new round starts after it, default 1800) and
``DISCO_CHAOS_LOG`` (a JSON-lines file of the rounds run). docs/hosts.md has the figures.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import pytest

from disco.testing import poll_for

pytestmark = [pytest.mark.chaos, pytest.mark.hosts, pytest.mark.timeout(3600)]

JOBS = os.path.join(os.path.dirname(__file__), "netns_jobs.py")
FAULTS = ("kill_node", "kill_worker", "stop", "link", "disk")
DISK_HOST = "node3"
SETTINGS = {"DDFS_BLOB_REPLICAS": 2, "DDFS_TAG_REPLICAS": 2, "DDFS_TAG_MIN_REPLICAS": 2,
            "DISCO_NODE_ZYGOTE_IDLE": 1, "DISCO_SPECULATIVE_MIN_RUNTIME": 2,
            "DDFS_NODE_LOSS_GRACE": 2, "DDFS_GC_INITIAL_WAIT": 600}
#: seconds a round's job may take, faults included
JOB_DEADLINE = 150


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


@dataclass
class Round:
    index: int
    fault: str
    victim: str
    delay: float          # seconds after the job starts
    hold: float           # seconds the fault lasts (stop, link, disk)
    inputs: int
    seed: int
    outcome: str = ""
    seconds: float = 0.0
    mid_job: bool = False     # the job was still running when the fault struck
    push: str = ""            # the DDFS push's outcome ("ok", or its error message)


def plan(seed: int, rounds: int, stop_seconds: float, nodes: list[str]) -> list[Round]:
    """Every round's fault, victim, moment and job, from the seed alone."""
    rng = random.Random(seed)
    offset = rng.randrange(len(FAULTS))
    planned = []
    for index in range(rounds):
        fault = FAULTS[(offset + index) % len(FAULTS)]
        victim = DISK_HOST if fault == "disk" else rng.choice(nodes)
        hold = {"stop": stop_seconds, "link": rng.uniform(2, 10)}.get(fault, 0.0)
        planned.append(Round(index, fault, victim, round(rng.uniform(0.3, 2.5), 2),
                             round(hold, 2), rng.randint(6, 14), rng.randrange(1 << 30)))
    return planned


class Chaos:
    """One chaos run on one cluster: rounds, checks, and the record of what happened."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.blobs: dict[str, bytes] = {}       # tag -> content pushed
        self.fds: dict[int, int] = {}           # node pid -> open fds at rest

    def start_job(self, r: Round) -> subprocess.Popen:
        argv = ["ip", "netns", "exec", self.cluster.hosts["master"].netns, sys.executable, JOBS,
                "wordcount", str(r.inputs), "--seed", str(r.seed), "--timeout",
                str(JOB_DEADLINE), "--params", json.dumps({"map_sleep": 0.5})]
        return subprocess.Popen(argv, env=self.cluster.client_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=self.cluster.root)

    def start_push(self, r: Round) -> tuple[str, subprocess.Popen]:
        tag = f"chaos:round{r.index}"
        content = "".join(f"round {r.index} line {i}\n" for i in range(200)).encode()
        path = os.path.join(self.cluster.root, f"blob{r.index}.txt")
        with open(path, "wb") as f:
            f.write(content)
        self.blobs[tag] = content
        argv = ["ip", "netns", "exec", self.cluster.hosts["master"].netns, "ddfs", "push", tag,
                path]
        return tag, subprocess.Popen(argv, env=self.cluster.client_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # ---- faults --------------------------------------------------------------------------

    def inject(self, r: Round) -> None:
        cluster, victim = self.cluster, r.victim
        if r.fault == "kill_node":
            cluster.signal_node(victim, signal.SIGKILL, workers=False)
        elif r.fault == "kill_worker":
            node = cluster.node_pid(victim)
            data = cluster.hosts[victim].disco_data
            workers = [p for p in cluster.node_tree(victim) if p != node and _runs_in(p, data)]
            for pid in workers:
                _signal(pid, signal.SIGKILL)
        elif r.fault == "stop":
            stopped = cluster.signal_node(victim, signal.SIGSTOP)
            time.sleep(r.hold)
            for pid in stopped:
                _signal(pid, signal.SIGCONT)
        elif r.fault == "link":
            cluster.link_down(victim)
            time.sleep(r.hold)
            cluster.link_up(victim)
        elif r.fault == "disk":
            cluster.fill_disk(victim)

    def heal(self, r: Round) -> None:
        if r.fault == "disk":
            self.cluster.free_disk(r.victim)

    # ---- checks --------------------------------------------------------------------------

    def check_job(self, job: subprocess.Popen) -> dict:
        out, err = job.communicate(timeout=JOB_DEADLINE + 30)
        assert job.returncode == 0, f"the job failed or got stuck:\n{out[-2000:]}\n{err[-4000:]}"
        result = json.loads(out.strip().splitlines()[-1])
        assert result["counts"] == result["expected"], result
        assert result["pairs"] == result["distinct"], f"a word was counted twice: {result}"
        return result

    def check_push(self, tag: str, push: subprocess.Popen) -> str:
        out, err = push.communicate(timeout=120)
        if push.returncode:  # a push may fail with a clear message (disk full, node gone)
            assert err.strip(), "a failed push must say why"
            self.blobs.pop(tag)
            return err.strip().splitlines()[-1][:300]
        return "ok"

    def check_ddfs(self) -> None:
        """Every pushed blob readable, with two replicas on live nodes (after a GC run)."""
        cluster = self.cluster
        cluster.python("import urllib.request\n"
                       f"urllib.request.urlopen({cluster.master_url!r} + '/ddfs/ctrl/gc_start',"
                       " timeout=10).read()\nprint(1)", timeout=30)

        def replicated() -> bool:
            for tag in self.blobs:
                blobs = cluster.in_netns("master", ["ddfs", "blobs", tag], check=False)
                rows = [line.split() for line in blobs.stdout.splitlines() if line.strip()]
                if blobs.returncode or not rows or any(len(set(r)) < 2 for r in rows):
                    return False
            return True

        def listing() -> str:
            return "replicas not restored: " + repr(
                [(t, cluster.in_netns("master", ["ddfs", "blobs", t], check=False).stdout)
                 for t in self.blobs])

        poll_for(replicated, 120, period=2, message=listing)
        for tag, content in self.blobs.items():
            got = cluster.in_netns("master", ["ddfs", "cat", tag], timeout=60).stdout
            assert got.encode() == content, f"{tag}: content differs"

    def settle(self) -> None:
        """All nodes back; no process left over; node file descriptors do not grow."""
        cluster = self.cluster
        cluster.wait_for_nodes(timeout=120)
        hosts = cluster.node_names
        poll_for(lambda: not [h for h in hosts if leftovers(cluster, h)], 60, period=0.5,
                 message=lambda: "processes left over: " + "; ".join(
                     f"{h}: {leftovers(cluster, h)}" for h in hosts))
        for host in hosts:
            pid = cluster.node_pid(host)
            fds = cluster.open_fds(pid)
            self.fds.setdefault(pid, fds)
            assert fds <= self.fds[pid] + 16, f"{host}: node fds grew {self.fds[pid]} -> {fds}"

    def run_round(self, r: Round) -> None:
        begin = time.monotonic()
        job = self.start_job(r)
        time.sleep(r.delay / 2)
        tag, push = self.start_push(r)
        time.sleep(r.delay / 2)
        try:
            r.mid_job = job.poll() is None
            self.inject(r)
            self.check_job(job)
            r.push = self.check_push(tag, push)
        finally:
            self.heal(r)
            for process in (job, push):
                if process.poll() is None:
                    process.kill()
                    process.wait()
        self.settle()
        self.check_ddfs()
        r.outcome, r.seconds = "ok", round(time.monotonic() - begin, 1)


def test_chaos(netns_cluster):
    seed = int(env_number("DISCO_CHAOS_SEED", 1))
    rounds = int(env_number("DISCO_CHAOS_ROUNDS", len(FAULTS)))
    stop_seconds = env_number("DISCO_CHAOS_STOP", 30)
    budget = env_number("DISCO_CHAOS_BUDGET", 1800)
    log_path = os.environ.get("DISCO_CHAOS_LOG", "")
    cluster = netns_cluster(nodes=3, workers=2, settings=SETTINGS, disk_mb={DISK_HOST: 64})
    chaos = Chaos(cluster)
    chaos.settle()
    planned = plan(seed, rounds, stop_seconds, cluster.node_names)
    deadline = time.monotonic() + budget
    ran: list[Round] = []
    for r in planned:
        if time.monotonic() > deadline:
            break
        print(f"chaos seed {seed} round {r.index}: {r.fault} on {r.victim} after {r.delay} s"
              f" (hold {r.hold} s, {r.inputs} inputs)", flush=True)
        try:
            chaos.run_round(r)
        except BaseException:
            r.outcome = "failed"
            raise
        finally:
            ran.append(r)
            if log_path:
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"seed": seed, **asdict(r)}) + "\n")
    summary = {fault: sum(r.fault == fault for r in ran) for fault in FAULTS}
    mid_job = sum(r.mid_job for r in ran)
    print(f"chaos seed {seed}: {len(ran)} rounds ({mid_job} faults mid-job), all results "
          f"right; faults {summary}")
    assert ran and all(r.outcome == "ok" for r in ran)


def test_the_plan_is_replayable():
    nodes = ["node1", "node2", "node3"]
    assert plan(7, 10, 30, nodes) == plan(7, 10, 30, nodes)
    assert plan(7, 10, 30, nodes) != plan(8, 10, 30, nodes)
    assert {r.fault for r in plan(3, 5, 30, nodes)} == set(FAULTS)


#: processes a resting node host runs: at most this many of each kind
RESTING = {"sshd listener": 1, "ssh session": 1, "remote wrapper": 1, "node": 1,
           "fork server": 1}


def kind_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return "gone"
    if cmdline.startswith("sshd:") and "[listener]" in cmdline:
        return "sshd listener"
    if cmdline.startswith("sshd:"):
        return "ssh session"
    if "disco.node.remote start" in cmdline:
        return "remote wrapper"
    if " -m disco node " in cmdline:
        return "node"
    if "disco.node.forkserver" in cmdline:
        return "fork server"   # or a job's zygote, or a forked worker: counted as extra
    return cmdline[:120] or "?"


def leftovers(cluster, host: str) -> dict[str, int]:
    """Kinds of processes of `host` beyond what a resting host runs."""
    found: dict[str, int] = {}
    for pid in cluster.netns_pids(host):
        kind = kind_of(pid)
        if kind != "gone":
            found[kind] = found.get(kind, 0) + 1
    return {k: n for k, n in found.items() if n > RESTING.get(k, 0)}


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _runs_in(pid: int, directory: str) -> bool:
    """True if the process's working directory is below `directory` (a worker's job home)."""
    try:
        return os.readlink(f"/proc/{pid}/cwd").startswith(directory + os.sep)
    except OSError:
        return False
