"""`disco` and `ddfs` subcommands/options of DISCO.md §5 not covered elsewhere, against the
shared real cluster: deref -r, jobdict, stageresults, pstats -k, debug, oob, client_version,
and `ddfs cat -j` / `ddfs xcat -j` (job mode)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from disco.core import client_version
from disco.job import Job
from tests.cli.helpers import disco

pytestmark = pytest.mark.timeout(150)

JOB_TIMEOUT = 120


def fun_map(line, params):
    for word in line.split():
        yield word, 1


def fun_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


@pytest.fixture(scope="module")
def profiled_job(_shared_cluster):
    """A finished word count run with profile=True (its stats are in DDFS)."""
    shared_cluster = _shared_cluster
    job = Job(master=shared_cluster.master_url, settings=shared_cluster.settings).run(
        name="CompatCli", input=["raw://apple banana apple", "raw://cherry apple"],
        map=fun_map, reduce=fun_reduce, profile=True)
    job.wait(timeout=JOB_TIMEOUT)
    return job.name


def lines(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.strip()]


def ddfs_cli(cluster, *args) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "disco.cli.ddfs", *args],
        capture_output=True,
        check=False,
        text=True,
        env=cluster.client_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_compat_jobdict(shared_cluster, profiled_job):
    out = disco(shared_cluster, "jobdict", "@?CompatCli").stdout.splitlines()
    assert out[0] == profiled_job
    fields = dict(line.strip().split("\t", 1) for line in out[1:])
    assert fields["prefix"] == "CompatCli"
    assert {"worker", "owner", "scheduler", "input", "nr_reduces"} <= set(fields)


def test_compat_stageresults_and_deref_resolve(shared_cluster, profiled_job):
    reduce_results = lines(disco(shared_cluster, "stageresults", profiled_job, "-S", "reduce"))
    assert reduce_results == lines(disco(shared_cluster, "results", profiled_job))
    raw = lines(disco(shared_cluster, "deref", *reduce_results))
    assert raw and all(url.startswith("disco://") for url in raw), raw
    resolved = lines(disco(shared_cluster, "deref", "-r", *reduce_results))
    assert len(resolved) == len(raw)
    assert all(url.startswith("http://") and f":{shared_cluster.port}/disco/" in url
               for url in resolved), resolved
    # stdin, as `disco results @ | disco deref -r`
    piped = lines(disco(shared_cluster, "deref", "-r", input="\n".join(reduce_results) + "\n"))
    assert piped == resolved


def test_compat_pstats_sort_keys(shared_cluster, profiled_job):
    out = disco(shared_cluster, "pstats", "-k", "tottime", "-k", "calls", profiled_job).stdout
    assert "function calls" in out and "Ordered by: internal time, call count" in out
    default = disco(shared_cluster, "pstats", profiled_job).stdout
    assert "Ordered by: cumulative time" in default


def test_compat_oob_list_and_get(shared_cluster, profiled_job):
    keys = lines(disco(shared_cluster, "oob", profiled_job))
    assert any(key.startswith("profile-map") for key in keys), keys
    value = disco(shared_cluster, "oob", "get", keys[0], profiled_job)
    assert value.returncode == 0 and value.stdout


def test_compat_debug_shell(shared_cluster, profiled_job):
    result = disco(shared_cluster, "debug", input="print(len(disco.nodeinfo()))\n"
                                                  "print(ddfs.exists('no-such-tag'))\n")
    assert result.stdout.split() == [str(len(shared_cluster.hosts)), "False"]
    assert "nodes connected" in result.stderr
    host = shared_cluster.hosts[0]
    one = disco(shared_cluster, "debug", host, input="")
    assert one.stderr.startswith(f"{host}: ") and "max_workers" in one.stderr
    missing = disco(shared_cluster, "debug", "no.such.host", input="", check=False)
    assert missing.returncode == 1 and "no node no.such.host" in missing.stderr


def test_compat_client_version(shared_cluster):
    assert disco(shared_cluster, "client_version").stdout.strip() == client_version()


def test_compat_ddfs_cat_and_xcat_job_mode(shared_cluster, profiled_job):
    records = ddfs_cli(shared_cluster, "xcat", "-j", profiled_job).stdout.splitlines()
    assert sorted(records) == ["apple\t3", "banana\t1", "cherry\t1"]
    at_ref = ddfs_cli(shared_cluster, "xcat", "-j", "@?CompatCli").stdout.splitlines()
    assert sorted(at_ref) == sorted(records)
    raw = subprocess.run(
        [sys.executable, "-m", "disco.cli.ddfs", "cat", "-j", profiled_job],
        capture_output=True,
        check=False,
        env=shared_cluster.client_env(),
        timeout=60,
    )
    assert raw.returncode == 0 and raw.stdout[:1] == b"\x81", raw.stderr  # Disco format v1
