"""Fault tolerance with real processes: a master and three nodes on 127.0.0.2-4.

Every test starts its own `LocalCluster` (the `cluster` fixture) because it breaks something:
a worker raises or crashes, a node process is killed with SIGKILL mid-stage, the job is
killed or purged while it runs, a node is blacklisted, the master itself is killed and
restarted on the same root. Retry back-offs and node timeouts are shrunk (`FAST_SETTINGS`
plus `SETTINGS` below) so that each test takes seconds. Job functions coordinate through
marker files in a directory shared by all "nodes" (they all run on this machine).
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import signal
import subprocess
import sys

import pytest

from disco.core import Disco, result_iterator
from disco.error import JobError
from disco.job import Job
from disco.testing import poll_for
from disco.testing.cluster import http_get, http_post

pytestmark = pytest.mark.timeout(150)

HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
SETTINGS = {"DISCO_RETRY_SLEEP_UNIT": 0.05, "DISCO_RETRY_SLEEP_MAX": 0.2,
            "DISCO_RETRY_SLEEP_RANDOM": 0, "DISCO_NODE_RESTART_DELAY": 0.5,
            "DISCO_NODE_TIMEOUT": 5, "DISCO_NODE_HEARTBEAT": 0.5}
WORDS = ["apple", "banana", "cherry", "date", "elder", "fig"]
#: seconds a job may take in these tests
JOB_TIMEOUT = 90


# ---- job functions (shipped to the nodes) --------------------------------------------------

def map_words(line, params):
    """Word count map with optional faults; `params` is a dict (see `job_params`)."""
    import os
    import time

    from disco.error import DataError
    marker = params.get("marker")
    first = False
    if marker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(fd)
            first = True
        except FileExistsError:
            first = False
    fault = params.get("fault")
    if fault == "data_error_once" and first:
        raise DataError("injected data error", "raw://test")
    if fault == "data_error_always":
        raise DataError("injected data error, always", "raw://test")
    if fault == "fatal":
        raise ValueError("injected fatal error in map")
    if fault == "exit_once" and first:
        os._exit(3)
    if params.get("started"):
        open(os.path.join(params["started"], str(os.getpid())), "w").close()
    time.sleep(params.get("map_sleep", 0))
    for word in line.split():
        yield word, 1


def reduce_counts(iter, params):
    """Sum counts per word; sleeps `reduce_sleep` first (to be killed mid-reduce)."""
    import os
    import time

    from disco.util import kvgroup
    if params.get("started"):
        open(os.path.join(params["started"], f"reduce-{os.getpid()}"), "w").close()
    time.sleep(params.get("reduce_sleep", 0))
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


# ---- helpers --------------------------------------------------------------------------------

def word_inputs(count: int) -> tuple[list[str], dict[str, int]]:
    """`count` raw:// inputs of words and the word counts they must give."""
    inputs, expected = [], {}
    for i in range(count):
        words = [WORDS[(i + j) % len(WORDS)] for j in range(1 + i % 3)]
        inputs.append("raw://" + " ".join(words))
        for word in words:
            expected[word] = expected.get(word, 0) + 1
    return inputs, expected


def start_cluster(cluster, **settings):
    return cluster(hosts=HOSTS, workers=2, settings={**SETTINGS, **settings})


def run_wordcount(local, inputs, params, partitions=3, reduce=True) -> Job:
    jobargs = {"input": inputs, "map": map_words, "params": params}
    if reduce:
        jobargs.update(reduce=reduce_counts, partitions=partitions)
    return Job(master=local.master_url, settings=local.settings).run(**jobargs)


def counts(local, results) -> dict:
    found: dict = {}
    for word, count in result_iterator(results, ddfs=local.master_url):
        found[word] = found.get(word, 0) + count
    return found


def events(local, name: str) -> list[str]:
    """Every event message of the job, oldest first ("host: message")."""
    raw = Disco(master=local.master_url, settings=local.settings).rawevents(name)
    lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    return [f"{host}: {message}" for _ts, host, message in lines]


def jobinfo(local, name: str) -> dict:
    return json.loads(http_get(f"{local.master_url}/disco/ctrl/jobinfo?name={name}"))


def jobtasks(local, name: str) -> list[dict]:
    return json.loads(http_get(f"{local.master_url}/disco/ctrl/jobtasks?name={name}"))["tasks"]


def post(local, op: str, body) -> object:
    return json.loads(http_post(f"{local.master_url}/disco/ctrl/{op}", json.dumps(body).encode()))


def assigned_hosts(lines: list[str], label: str) -> list[str]:
    """Hosts that `label` (e.g. "map:0") was assigned to, in order."""
    prefix = f"master: {label} assigned to "
    return [line[len(prefix):] for line in lines if line.startswith(prefix)]


def running_on(local, name: str) -> set[str]:
    try:
        return set(jobinfo(local, name)["hosts"])
    except OSError:
        return set()


def wait_files(directory: str, count: int, timeout: float = 30.0, prefix: str = "") -> list[str]:
    return poll_for(lambda: [f for f in os.listdir(directory) if f.startswith(prefix)]
                    if len([f for f in os.listdir(directory) if f.startswith(prefix)]) >= count
                    else None, timeout, message=f"fewer than {count} files in {directory}")


# ---- worker failures ------------------------------------------------------------------------

def test_data_error_is_retried_on_another_node(cluster, tmp_path):
    local = start_cluster(cluster)
    inputs, expected = word_inputs(1)
    job = run_wordcount(local, inputs, {"marker": str(tmp_path / "once"),
                                        "fault": "data_error_once"})
    assert counts(local, job.wait(timeout=JOB_TIMEOUT)) == expected
    lines = events(local, job.name)
    hosts = assigned_hosts(lines, "map:0")
    assert len(hosts) == 2 and hosts[0] != hosts[1], lines
    assert any("WARNING: [map:0]" in line and "injected data error" in line for line in lines)
    assert any("Task map:0 failed on " + hosts[0] in line for line in lines), lines


def test_fatal_error_kills_job_with_a_clear_message(cluster):
    local = start_cluster(cluster)
    inputs, _expected = word_inputs(1)
    job = run_wordcount(local, inputs, {"fault": "fatal"})
    with pytest.raises(JobError) as caught:
        job.wait(timeout=JOB_TIMEOUT)
    assert jobinfo(local, job.name)["active"] == "dead"
    lines = events(local, job.name)
    fatal = [line for line in lines if "FATAL: [map:0]" in line]
    assert fatal and "injected fatal error in map" in fatal[0], lines
    assert "Traceback" in fatal[0] and "map_words" in fatal[0], fatal
    host = fatal[0].split(":", 1)[0]
    assert host in HOSTS
    # the master records why: stage:task, node and the user's traceback
    reason = jobinfo(local, job.name)["reason"]
    for needle in ("map:0", host, "ValueError: injected fatal error in map", "map_words"):
        assert needle in reason, reason
    assert "map:0" in str(caught.value) or "dead" in str(caught.value)


def test_job_error_names_task_node_and_traceback(cluster):
    local = start_cluster(cluster)
    inputs, _expected = word_inputs(1)
    job = run_wordcount(local, inputs, {"fault": "fatal"})
    with pytest.raises(JobError) as caught:
        job.wait(timeout=JOB_TIMEOUT)
    host = next(line for line in events(local, job.name) if "FATAL: [map:0]" in line)
    host = host.split(":", 1)[0]
    message = str(caught.value)
    for needle in ("map:0", host, "ValueError: injected fatal error in map"):
        assert needle in message, message


def test_crashing_worker_is_retried(cluster, tmp_path):
    local = start_cluster(cluster)
    inputs, expected = word_inputs(4)
    job = run_wordcount(local, inputs, {"marker": str(tmp_path / "once"), "fault": "exit_once"})
    assert counts(local, job.wait(timeout=JOB_TIMEOUT)) == expected
    lines = events(local, job.name)
    assert sum("failed on" in line and "1th failures" in line for line in lines) == 1, lines


def test_max_failure_rate_ends_the_job(cluster):
    local = start_cluster(cluster)
    assert post(local, "save_settings", {"max_failure_rate": "2"}) == "Settings saved"
    inputs, _expected = word_inputs(1)
    job = run_wordcount(local, inputs, {"fault": "data_error_always"})
    with pytest.raises(JobError):
        job.wait(timeout=JOB_TIMEOUT)
    lines = events(local, job.name)
    assert any("ERROR: Task map:0 failed 3 times. At most 2 failures are allowed." in line
               or "Task map:0 failed 3 times. At most 2 failures are allowed." in line
               for line in lines), lines
    info = jobinfo(local, job.name)
    assert info["active"] == "dead"
    assert "injected data error, always" in info["reason"], info


# ---- node loss ------------------------------------------------------------------------------

@pytest.mark.process
def test_node_killed_mid_map(cluster, tmp_path):
    local = start_cluster(cluster)
    started = tmp_path / "started"
    started.mkdir()
    inputs, expected = word_inputs(12)
    job = run_wordcount(local, inputs, {"map_sleep": 1.0, "started": str(started)})
    wait_files(str(started), 4)
    victim = min(poll_for(lambda: running_on(local, job.name), 20))
    local.kill_node(victim, signal.SIGKILL)
    assert counts(local, job.wait(timeout=JOB_TIMEOUT)) == expected
    lines = events(local, job.name)
    assert any("Connection lost to the node" in line for line in lines), lines


@pytest.mark.process
def test_node_killed_mid_reduce(cluster, tmp_path):
    local = start_cluster(cluster)
    started = tmp_path / "started"
    started.mkdir()
    inputs, expected = word_inputs(9)
    job = run_wordcount(local, inputs, {"reduce_sleep": 2.0, "started": str(started)},
                        partitions=3)
    wait_files(str(started), 2, prefix="reduce-")
    # kill a node that runs a reduce task: it also holds map outputs the job still needs
    reduce_hosts = {t["host"] for t in jobtasks(local, job.name)
                    if t["stage"] == "reduce" and t["status"] == "running"}
    victim = min(reduce_hosts)
    local.kill_node(victim, signal.SIGKILL)
    assert counts(local, job.wait(timeout=JOB_TIMEOUT)) == expected
    lines = events(local, job.name)
    assert any("Connection lost to the node" in line for line in lines), lines


# ---- job control ----------------------------------------------------------------------------

def test_kill_running_job(cluster, tmp_path):
    local = start_cluster(cluster)
    started = tmp_path / "started"
    started.mkdir()
    inputs, _expected = word_inputs(12)
    job = run_wordcount(local, inputs, {"map_sleep": 5.0, "started": str(started)})
    wait_files(str(started), 2)
    Disco(master=local.master_url, settings=local.settings).kill(job.name)
    with pytest.raises(JobError):
        job.wait(timeout=JOB_TIMEOUT)
    info = jobinfo(local, job.name)
    assert info["active"] == "dead"
    assert any("WARN: Job killed" in line for line in events(local, job.name))
    # every worker of the job stops (no task of the job keeps running on any node)
    poll_for(lambda: all(job.name not in n.get("tasks", []) for n in local.nodeinfo().values()),
             15, message="tasks of the killed job still running")
    # the master keeps nothing of the job to start: no task is queued, waiting or running
    poll_for(lambda: not [t for t in jobtasks(local, job.name)
                          if t["status"] in ("queued", "waiting", "running", "blocked")],
             15, message="the killed job still has tasks to run")
    assert len(os.listdir(started)) < 12  # nothing new was started after the kill


def test_purge_running_job(cluster, tmp_path):
    local = start_cluster(cluster)
    started = tmp_path / "started"
    started.mkdir()
    inputs, _expected = word_inputs(12)
    job = run_wordcount(local, inputs, {"map_sleep": 5.0, "started": str(started)})
    wait_files(str(started), 2)
    Disco(master=local.master_url, settings=local.settings).purge(job.name)
    joblist = json.loads(http_get(f"{local.master_url}/disco/ctrl/joblist"))
    assert job.name not in [name for _t, _s, name in joblist]
    poll_for(lambda: all(job.name not in n.get("tasks", []) for n in local.nodeinfo().values()),
             15, message="tasks of the purged job still running")
    status, _results = Disco(master=local.master_url, settings=local.settings).results(job.name)
    assert status == "unknown job"
    # node data of the job is removed
    data = os.path.join(local.root, "data")

    def job_dirs() -> list[str]:
        return [root for root, dirs, _files in os.walk(data) if job.name in dirs]
    poll_for(lambda: not job_dirs(), 15, message=lambda: f"job dirs left: {job_dirs()}")


def test_blacklisting_a_node_moves_work_off_it(cluster, tmp_path):
    local = start_cluster(cluster)
    started = tmp_path / "started"
    started.mkdir()
    inputs, expected = word_inputs(18)
    job = run_wordcount(local, inputs, {"map_sleep": 0.5, "started": str(started)})
    wait_files(str(started), 2)
    victim = min(poll_for(lambda: running_on(local, job.name), 20))
    Disco(master=local.master_url, settings=local.settings).blacklist(victim)
    before = len(events(local, job.name))
    assert counts(local, job.wait(timeout=JOB_TIMEOUT)) == expected
    later = events(local, job.name)[before:]
    assert not [line for line in later if line.endswith(f"assigned to {victim}")], later
    assert victim in json.loads(http_get(f"{local.master_url}/disco/ctrl/get_blacklist"))


# ---- master restart -------------------------------------------------------------------------

def stored_done_tasks(local, name: str) -> set[int]:
    """The tasks of job ``name`` the master's SQLite store has as done (read-only)."""
    path = os.path.join(local.settings.get_path("DISCO_MASTER_ROOT"), "master.db")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
        rows = db.execute("SELECT task FROM tasks WHERE job = ? AND status = 'done'", (name,))
        return {task for (task,) in rows}


def restart_master(local) -> None:
    """SIGKILL the master process and start it again on the same root and ports."""
    local.remember_tree()
    local.process.send_signal(signal.SIGKILL)
    local.process.wait(10)
    with open(os.path.join(local.log_dir, "master.out"), "ab") as out:
        local.process = subprocess.Popen(
            [sys.executable, "-m", "disco", "master"], env=local.client_env(),
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=local.root,
            start_new_session=True)
    local.remember(local.process.pid)
    local.wait_for_master(30)
    local.wait_for_nodes(local.hosts, 30)
    local.remember_tree()


@pytest.mark.process
@pytest.mark.parametrize("phase", ["map", "reduce"])
def test_master_restart_resumes_active_job(cluster, tmp_path, phase):
    local = start_cluster(cluster)
    started = tmp_path / "started"
    started.mkdir()
    inputs, expected = word_inputs(12)
    job = run_wordcount(local, inputs, {"map_sleep": 1.0 if phase == "map" else 0,
                                        "reduce_sleep": 3.0 if phase == "reduce" else 0.5,
                                        "started": str(started)})
    if phase == "map":  # some map tasks are done, others running, when the master dies
        poll_for(lambda: any(t["status"] == "done" for t in jobtasks(local, job.name)), 30)
    else:  # map and shuffle done, reduce tasks running
        wait_files(str(started), 2, prefix="reduce-")
    done_before = {t["task"] for t in jobtasks(local, job.name) if t["status"] == "done"}
    # task rows reach the store in batches: wait until those done tasks are in it
    poll_for(lambda: done_before <= stored_done_tasks(local, job.name), 30,
             message="done tasks not yet in the master's store")
    restart_master(local)
    info = jobinfo(local, job.name)
    assert info["active"] == "active", info
    assert counts(local, job.wait(timeout=JOB_TIMEOUT)) == expected
    tasks = {t["task"]: t for t in jobtasks(local, job.name)}
    for task_id in done_before:  # done tasks were kept, not run again
        assert tasks[task_id]["attempts"] == 1, tasks[task_id]
    lines = events(local, job.name)
    assert any("resumed" in line.lower() for line in lines), lines


@pytest.mark.process
def test_master_restart_keeps_finished_jobs(cluster):
    local = start_cluster(cluster)
    inputs, expected = word_inputs(3)
    job = run_wordcount(local, inputs, {})
    results = job.wait(timeout=JOB_TIMEOUT)
    restart_master(local)
    assert jobinfo(local, job.name)["active"] == "ready"
    status, again = Disco(master=local.master_url, settings=local.settings).results(job.name)
    assert status == "ready" and again == results
    assert counts(local, again) == expected
