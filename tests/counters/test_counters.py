"""Counters end to end (docs/counters.md): real master and nodes, the example job of
examples/count_malformed.py, retries, a node killed mid-job, a master restart, the CLI."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from disco.job import Job
from disco.testing import poll_for
from disco.testing.cluster import http_get
from tests.cli.helpers import disco

pytestmark = pytest.mark.timeout(180)

HOSTS = ("127.0.0.2", "127.0.0.3")
SETTINGS = {"DISCO_RETRY_SLEEP_UNIT": 0.05, "DISCO_RETRY_SLEEP_MAX": 0.2,
            "DISCO_RETRY_SLEEP_RANDOM": 0, "DISCO_NODE_RESTART_DELAY": 0.5,
            "DISCO_NODE_TIMEOUT": 5, "DISCO_NODE_HEARTBEAT": 0.5,
            "DISCO_SPECULATIVE": 0}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "count_malformed.py"
JOB_TIMEOUT = 120


def load_example():
    spec = importlib.util.spec_from_file_location("count_malformed", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["count_malformed"] = module  # the job pack ships the module by its name
    spec.loader.exec_module(module)
    return module


def lines_inputs(count: int, held: int = 0) -> tuple[list[str], dict[str, int]]:
    """`count` raw:// inputs of 5 lines (2 good, 2 malformed fields, 1 bad amount), the last
    `held` of them with a sixth line `hold` (malformed too, and where `flaky_map` waits), and
    the quality counters they must give."""
    inputs = []
    for i in range(count):
        lines = [f"k{i % 3},{i}", "nonsense", f"k{i % 2},x", f"k{i % 5},1", "a,b,c"]
        if i >= count - held:
            lines.append("hold")
        inputs.append("raw://" + "\n".join(lines))
    return inputs, {"good": 2 * count, "malformed_fields": 2 * count + held,
                    "malformed_amount": count}


# ---- job functions (shipped to the nodes) ----------------------------------------------------

def flaky_map(line, params):
    """The example's map, but with `markers` each input's first attempt counts, then fails
    (retried), and with `hold` a map waits at a `hold` line, after counting it, for the file
    `hold` (so a node can be killed mid-job)."""
    import os
    import time

    from disco.error import DataError
    from disco.worker import counter
    if isinstance(line, bytes):
        line = line.decode()
    line = line.strip()
    fields = line.split(",")
    if len(fields) != 2:
        counter("quality", "malformed_fields")
        if line == "hold" and params.get("hold"):  # counted first: a killed attempt counted
            while not os.path.exists(params["hold"]):
                time.sleep(0.05)
        if params.get("markers") and fields[0] == "nonsense":
            marker = os.path.join(params["markers"], str(Task.taskid))  # noqa: F821
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                raise DataError("injected: first attempt fails after counting", marker)
        return
    try:
        value = int(fields[1])
    except ValueError:
        counter("quality", "malformed_amount")
        return
    counter("quality", "good")
    yield fields[0], value


def sum_reduce(iter, params):
    from disco.util import kvgroup
    for key, values in kvgroup(sorted(iter)):
        yield key, sum(values)


def run_flaky(local, inputs, params) -> Job:
    return Job(master=local.master_url, settings=local.settings).run(
        input=inputs, map=flaky_map, reduce=sum_reduce, partitions=2, params=params)


def get_counters(local, name: str, tasks: bool = False) -> dict:
    query = "&tasks=1" if tasks else ""
    return json.loads(http_get(f"{local.master_url}/disco/ctrl/counters?name={name}{query}"))


def engine(summary: dict, stage: str | None = None) -> dict:
    if stage is None:
        return summary["totals"]["disco"]
    return next(s for s in summary["stages"] if s["stage"] == stage)["counters"]["disco"]


# ---- tests -------------------------------------------------------------------------------------

def test_example_counts_malformed_lines_and_engine_counters(cluster):
    local = cluster(hosts=HOSTS, workers=2, settings=SETTINGS)
    example = load_example()
    job, _results = example.run(example.SAMPLE, master=local.master_url,
                                settings=local.settings)
    summary = job.counters()
    assert summary["user"] == {"quality": {"good": 5, "malformed_fields": 3,
                                           "malformed_amount": 1}}, summary
    assert summary["status"] == "ready"
    maps, reduces = engine(summary, "map"), engine(summary, "reduce")
    assert maps["records_in"] == 9 and maps["inputs"] == 2      # 9 lines (one empty)
    assert maps["records_out"] == 5                              # the good lines
    assert reduces["records_in"] == 5 and reduces["records_out"] == 3
    assert maps["bytes_out"] > 0 and reduces["bytes_in"] > 0
    assert maps["cpu_ms"] >= 0 and maps["peak_memory_kb"] > 0
    map_stage = summary["stages"][0]
    assert map_stage["shuffle_bytes"] == maps["bytes_out"]
    assert map_stage["skew"]["records_in"]["max"] == 5
    # the user table is also in the API's per-task view and in /metrics
    per_task = get_counters(local, job.name, tasks=True)["per_task"]
    assert sum(t["counters"].get("quality", {}).get("good", 0) for t in per_task) == 5
    metrics = http_get(f"{local.master_url}/metrics").decode()
    assert (f'disco_job_counter{{job="{job.name}",group="quality",name="good"}} 5'
            in metrics), metrics
    # the example as a script prints the sums and its counters
    script = subprocess.run([sys.executable, str(EXAMPLE)], env=local.client_env(),
                            capture_output=True, text=True, timeout=120)
    assert script.returncode == 0, script.stderr
    printed = script.stdout.splitlines()
    assert sorted(printed[:3]) == ["apple 4", "banana 7", "pear 2"], printed
    assert printed[3:] == ["good: 5", "malformed_amount: 1", "malformed_fields: 3"]


def test_retried_attempts_count_once(cluster, tmp_path):
    local = cluster(hosts=HOSTS, workers=2, settings=SETTINGS)
    markers = tmp_path / "markers"
    markers.mkdir()
    inputs, expected = lines_inputs(6)
    job = run_flaky(local, inputs, {"markers": str(markers)})
    job.wait(timeout=JOB_TIMEOUT)
    assert len(os.listdir(markers)) == 6          # every map failed once after counting
    tasks = json.loads(http_get(f"{local.master_url}/disco/ctrl/jobtasks?name={job.name}"))
    assert all(t["failures"] == 1 for t in tasks["tasks"] if t["stage"] == "map"), tasks
    summary = job.counters()
    assert summary["user"]["quality"] == expected, summary
    assert engine(summary, "map")["records_in"] == 5 * 6


@pytest.mark.process
def test_node_killed_mid_job_counts_exact(cluster, tmp_path):
    """Maps finished on the node (their outputs lost with it: run again) and maps running
    there when it is killed (they counted before they were held: never reported)."""
    local = cluster(hosts=HOSTS, workers=2, settings=SETTINGS)
    hold = tmp_path / "go"
    inputs, expected = lines_inputs(12, held=4)
    job = run_flaky(local, inputs, {"hold": str(hold)})

    def ready_to_kill():
        tasks = json.loads(http_get(f"{local.master_url}/disco/ctrl/jobtasks?name={job.name}"))
        maps = [t for t in tasks["tasks"] if t["stage"] == "map"]
        done_there = [t for t in maps if t["status"] == "done" and t["host"] == HOSTS[0]]
        running_there = [t for t in maps if t["status"] == "running" and t["host"] == HOSTS[0]]
        return (done_there and running_there) or None
    poll_for(ready_to_kill, 60, message=f"maps done and running on {HOSTS[0]}")
    local.kill_node(HOSTS[0])
    hold.touch()
    job.wait(timeout=JOB_TIMEOUT)
    tasks = json.loads(http_get(f"{local.master_url}/disco/ctrl/jobtasks?name={job.name}"))
    assert sum(t["attempts"] for t in tasks["tasks"] if t["stage"] == "map") > 12, tasks
    summary = job.counters()
    assert summary["user"]["quality"] == expected, summary
    maps = engine(summary, "map")
    assert maps["records_in"] == 5 * 12 + 4 and maps["inputs"] == 12
    assert engine(summary, "reduce")["records_in"] == maps["records_out"] == expected["good"]


@pytest.mark.process
def test_counters_while_running_survive_master_restart_and_cli(cluster, tmp_path):
    local = cluster(hosts=HOSTS[:1], workers=1, settings=SETTINGS)
    hold = tmp_path / "go"
    inputs, expected = lines_inputs(2)
    job = run_flaky(local, inputs[:1], {})
    job.wait(timeout=JOB_TIMEOUT)
    slow = run_flaky(local, inputs, {"hold": str(hold)})
    running = get_counters(local, slow.name)
    assert running["status"] == "active" and running["tasks"] == 0
    local.restart_master()
    local.wait_for_nodes()
    finished = get_counters(local, job.name)
    assert finished["user"]["quality"] == {"good": 2, "malformed_fields": 2,
                                           "malformed_amount": 1}
    hold.touch()
    slow.wait(timeout=JOB_TIMEOUT)
    assert slow.counters()["user"]["quality"] == expected
    text = disco(local, "counters", job.name).stdout
    assert "malformed_fields" in text and "records in" in text, text
    as_json = json.loads(disco(local, "counters", "--json", job.name).stdout)
    assert as_json["user"] == finished["user"]


# ---- the Stage API ---------------------------------------------------------------------------

def count_stage(interface, state, label, inp):
    """A pipeline map stage: count good and malformed lines with `interface.counter`."""
    out = interface.output(0)
    for line in inp:
        line = line.decode() if isinstance(line, bytes) else line
        fields = line.strip().split(",")
        if len(fields) != 2:
            interface.counter("quality", "malformed_fields")
            continue
        interface.counter("quality", "good", 2)
        out.add(fields[0], 1)


def test_stage_api_interface_counter(cluster):
    from disco.worker.pipeline.worker import Stage
    from disco.worker.pipeline.worker import Worker as PipelineWorker
    local = cluster(hosts=HOSTS[:1], workers=2, settings=SETTINGS)
    job = Job(master=local.master_url, settings=local.settings, worker=PipelineWorker())
    job.run(input=["raw://a,1\nbad\nb,2", "raw://c,3\nworse"],
            pipeline=[("split", Stage("map", process=count_stage))])
    job.wait(timeout=JOB_TIMEOUT)
    summary = job.counters()
    assert summary["user"] == {"quality": {"good": 6, "malformed_fields": 2}}, summary
    assert engine(summary, "map")["records_in"] == 5
    assert engine(summary, "map")["records_out"] == 3
