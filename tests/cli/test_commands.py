"""`disco` subcommands against a real cluster: jobs, results, events, references, errors."""
from __future__ import annotations

import json
import textwrap

import pytest

from tests.cli.helpers import disco

pytestmark = pytest.mark.timeout(120)

JOB_MODULE = '''
from disco.job import Job


def map(line, params):
    for word in line.split():
        yield word, 1


def reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


class WordJob(Job):
    map = staticmethod(map)
    reduce = staticmethod(reduce)


def slow_map(line, params):
    import time
    time.sleep(60)
    yield line, 1


class SlowJob(Job):
    map = staticmethod(slow_map)
'''


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("jobs")
    (directory / "wcjob.py").write_text(textwrap.dedent(JOB_MODULE))
    for i in range(3):
        (directory / f"in{i}.txt").write_text("apple banana apple\ncherry apple\n")
    return directory


@pytest.fixture
def word_job(shared_cluster, job_dir):
    """A finished WordJob run with `disco run`; returns its name."""
    inputs = [f"file://{job_dir / f'in{i}.txt'}" for i in range(3)]
    result = disco(shared_cluster, "run", "-n", "CliWords", "wcjob.WordJob", *inputs, cwd=job_dir)
    name = result.stdout.strip()
    assert name.startswith("CliWords@"), result.stdout
    disco(shared_cluster, "wait", name, timeout=110)
    return name


def lines(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.strip()]


def test_run_wait_and_results(shared_cluster, word_job):
    waited = lines(disco(shared_cluster, "wait", word_job))
    results = lines(disco(shared_cluster, "results", word_job))
    assert waited == results and results
    assert all(url.split("://")[0] in ("dir", "disco", "tag", "http") for r in results
               for url in r.split("\t"))


def test_jobs_and_status(shared_cluster, word_job):
    assert word_job in lines(disco(shared_cluster, "jobs"))
    assert f"{word_job}\tready" in lines(disco(shared_cluster, "jobs", "-S"))


def test_job_references(shared_cluster, word_job):
    assert disco(shared_cluster, "results", "@").stdout == \
        disco(shared_cluster, "results", word_job).stdout
    jobdict = lines(disco(shared_cluster, "jobdict", "@?CliWords"))
    assert jobdict[0] == word_job
    assert "\tprefix\tCliWords" in jobdict


def test_unmatched_reference_is_an_error(shared_cluster):
    result = disco(shared_cluster, "results", "@?no-such-job-anywhere", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: no job whose name contains 'no-such-job-anywhere'"


def test_unknown_job_is_an_error(shared_cluster):
    result = disco(shared_cluster, "results", "NoSuchJob@5:6:7", check=False)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_events(shared_cluster, word_job):
    text = disco(shared_cluster, "events", word_job).stdout
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(message.startswith("READY") for _when, _host, message in events)
    # an offset skips what was already read
    offset_text = disco(shared_cluster, "events", "-o", "10", word_job).stdout
    assert offset_text == text[10:]


def test_stageresults(shared_cluster, word_job):
    assert lines(disco(shared_cluster, "stageresults", word_job, "-S", "map"))


def test_deref_job_results(shared_cluster, word_job):
    urls = lines(disco(shared_cluster, "deref", "-j", word_job))
    assert urls and all("://" in url for url in urls)
    assert not any(url.startswith("dir://") for url in urls)


def test_nodeinfo_config_versions(shared_cluster):
    info = lines(disco(shared_cluster, "nodeinfo"))
    assert sorted(line.split("\t")[0] for line in info) == sorted(shared_cluster.hosts)
    table = lines(disco(shared_cluster, "config"))
    assert table == [f"{host}\t{shared_cluster.workers}" for host in shared_cluster.hosts]
    assert disco(shared_cluster, "master_version").stdout.strip()
    assert disco(shared_cluster, "client_version").stdout.strip()


def test_run_wait_flag_prints_results(shared_cluster, job_dir):
    result = disco(shared_cluster, "run", "-w", "wcjob.WordJob", "raw://kiwi", cwd=job_dir,
                   timeout=110)
    out = lines(result)
    assert out[0].startswith("WordJob@") and len(out) >= 2


def test_submit_jobpack_from_file_and_stdin(shared_cluster, tmp_path):
    worker = tmp_path / "noop.sh"
    worker.write_text("#!/bin/sh\n")
    worker.chmod(0o755)
    import subprocess
    import sys
    pack = subprocess.run([sys.executable, "-m", "disco", "job", "-D", "-p", "Packed",
                           str(worker), "raw://x"], env=shared_cluster.client_env(),
                          check=True, capture_output=True, timeout=60).stdout
    path = tmp_path / "job.pack"
    path.write_bytes(pack)
    from_file = disco(shared_cluster, "submit", str(path)).stdout.strip()
    from_stdin = disco(shared_cluster, "submit", input=pack).stdout.strip()
    assert from_file.startswith("Packed@") and from_stdin.startswith("Packed@")
    assert from_file != from_stdin
    for name in (from_file, from_stdin):
        disco(shared_cluster, "kill", name)


def test_kill_and_purge(shared_cluster, job_dir):
    name = disco(shared_cluster, "run", "-n", "CliSlow", "wcjob.SlowJob", "raw://zzz",
                 cwd=job_dir).stdout.strip()
    disco(shared_cluster, "kill", "@?CliSlow")
    assert f"{name}\tdead" in lines(disco(shared_cluster, "jobs", "-S"))
    waited = disco(shared_cluster, "wait", name, check=False)
    assert waited.returncode == 1 and f"job {name} dead" in waited.stderr
    disco(shared_cluster, "purge", name)
    assert name not in lines(disco(shared_cluster, "jobs"))


def test_config_set_from_args_and_file(cluster, tmp_path):
    local = cluster(hosts=("127.0.0.2", "127.0.0.3"), workers=1)
    table = lines(disco(local, "config", "127.0.0.2", "3", "127.0.0.3", "1"))
    assert table == ["127.0.0.2\t3", "127.0.0.3\t1"]
    config_file = tmp_path / "cluster.json"
    config_file.write_text(json.dumps({"hosts": [["127.0.0.2", 2], ["127.0.0.3", "2"]]}))
    table = lines(disco(local, "config", "-f", str(config_file)))
    assert table == ["127.0.0.2\t2", "127.0.0.3\t2"]
    bad = disco(local, "config", "127.0.0.2", "1", "127.0.0.2", "1", check=False)
    assert bad.returncode == 1 and "duplicate" in bad.stderr
