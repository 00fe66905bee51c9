"""The `disco` command without a cluster: usage errors, exit codes, job packs, helpers."""
from __future__ import annotations

import io
import json
import os
import zipfile

import pytest

from disco.cli.corpus import expected_counts, generate_lines, write_corpus
from disco.cli.disco import format_pipeline, literal_or_string, reify
from disco.testing import free_port, run_cli

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def env(tmp_path):
    """An environment whose settings point at an empty root and a port nobody serves."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCO_", "DDFS_"))}
    settings_file = tmp_path / "settings.py"
    settings_file.write_text("")
    clean.update(DISCO_ROOT=str(tmp_path), DISCO_HOME=str(tmp_path),
                 DISCO_SETTINGS_FILE=str(settings_file), DISCO_MASTER_HOST="127.0.0.1",
                 DISCO_PORT=str(free_port(["127.0.0.1"])))
    return clean


def test_no_command_prints_master(env):
    result = run_cli(env=env)
    assert result.returncode == 0
    assert result.stdout.strip() == f"Disco master at http://127.0.0.1:{env['DISCO_PORT']}"


def test_master_option_sets_master(env):
    result = run_cli("-M", "example.org:1234", env=env)
    assert result.stdout.strip() == "Disco master at http://example.org:1234"


def test_unknown_command_is_a_usage_error(env):
    result = run_cli("frobnicate", env=env)
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_no_master_is_one_clear_line(env):
    result = run_cli("jobs", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    assert "Traceback" not in result.stderr


def test_verbose_shows_traceback(env):
    result = run_cli("-v", "jobs", env=env)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "DISCO_PORT = " in result.stderr


def test_status_of_stopped_master(env):
    result = run_cli("status", env=env)
    assert result.returncode == 0
    assert result.stdout.strip() == f"Master 127.0.0.1:{env['DISCO_PORT']} stopped"


def test_stop_when_not_running(env):
    result = run_cli("stop", env=env)
    assert result.returncode == 0
    assert result.stdout.strip().endswith("stopped")


def test_config_pairs_must_be_pairs(env):
    result = run_cli("config", "localhost", env=env)
    assert result.returncode == 2
    result = run_cli("config", "localhost", "many", env=env)
    assert result.returncode == 2


def test_job_needs_inputs(env, tmp_path):
    worker = tmp_path / "worker.sh"
    worker.write_text("#!/bin/sh\n")
    result = run_cli("job", str(worker), env=env, input=b"")
    assert result.returncode == 2
    assert "no inputs" in result.stderr


def test_job_dump_jobpack(env, tmp_path):
    """`disco job -D` writes a valid version-1 job pack (Disco's was broken, PR #494)."""
    from disco.protocol.jobpack import parse
    worker = tmp_path / "count.sh"
    worker.write_text("#!/bin/sh\n")
    extra = tmp_path / "lib"
    extra.mkdir()
    (extra / "data.txt").write_text("x")
    data = tmp_path / "blob"
    data.write_bytes(b"\x00\x01")
    raw = run_cli_bytes(env, "job", "-m", "-r", "-n", "3", "-p", "Count", "-o", "me@here",
                        "-S", "max_cores", "4", "-e", "LANG", "C", "-f", str(extra),
                        "-d", f"@{data}", "-D", str(worker), "raw://a", "raw://b http://c/d")
    parts = parse(raw)
    assert parts.version == 1
    jobdict = parts.jobdict
    assert jobdict["prefix"] == "Count" and jobdict["owner"] == "me@here"
    assert jobdict["worker"] == "count.sh"
    assert jobdict["map?"] is True and jobdict["reduce?"] is True
    assert jobdict["nr_reduces"] == 3
    assert jobdict["scheduler"] == {"max_cores": 4}
    assert jobdict["input"] == ["raw://a", ["raw://b", "http://c/d"]]
    assert parts.jobenvs == {"LANG": "C"}
    assert bytes(parts.jobdata) == b"\x00\x01"
    archive = zipfile.ZipFile(io.BytesIO(bytes(parts.jobhome)))
    assert sorted(archive.namelist()) == ["count.sh", "lib/data.txt"]
    assert (archive.getinfo("count.sh").external_attr >> 16) & 0o111


def run_cli_bytes(env, *args) -> bytes:
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "disco", *args], env=env, check=True,
                          capture_output=True, timeout=60).stdout


def test_inputs_from_stdin(env, tmp_path):
    from disco.protocol.jobpack import parse
    import subprocess
    import sys
    worker = tmp_path / "w"
    worker.write_text("#!/bin/sh\n")
    raw = subprocess.run([sys.executable, "-m", "disco", "job", "-D", str(worker)], env=env,
                         input=b"raw://one\nraw://two raw://three\n\n", check=True,
                         capture_output=True, timeout=60).stdout
    assert parse(raw).jobdict["input"] == ["raw://one", ["raw://two", "raw://three"]]


def test_format_pipeline():
    assert format_pipeline([]) == "starting"
    line = format_pipeline([["map", 0, 0, 1, 3, 0], ["reduce", 2, 0, 0, 0, 1]])
    assert line == "map 3/4 (1 running) | reduce 0/2 (1 failed)"


def test_reify_and_literals():
    assert reify("4") == 4 and reify("True") is True
    assert reify("os.path.join") is os.path.join
    assert literal_or_string("hello") == "hello"
    assert literal_or_string("[1, 2]") == [1, 2]


def test_corpus_is_deterministic(tmp_path):
    assert generate_lines(5000) == generate_lines(5000)
    counts = expected_counts(50_000)
    assert [w for w, _ in counts.most_common(3)] == ["the", "of", "and"]
    paths = write_corpus(str(tmp_path), size=50_000, parts=3)
    assert len(paths) == 3
    text = "".join(open(p).read() for p in paths)
    assert sum(len(line.split()) for line in text.splitlines()) == sum(counts.values())
    assert json.dumps(paths)
