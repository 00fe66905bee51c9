"""`DDFS.chunk` inputs: `-` is `sys.stdin.buffer` (also when a caller replaced `sys.stdin`),
with an unknown size; `input_stream=` (one function or several, `f(fd, size, url[, params])`)
opens each input instead of the built-in opener; `ddfs chunk -T NAMES` passes it.

`test_cli_chunk_T_real_processes` runs the `ddfs` command in a subprocess against a real
cluster (`shared_cluster`); the others use the in-process cluster (`mini`).
"""
from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from disco.cli.ddfs import cli
from disco.core import result_iterator
from disco.ddfs import DDFS
from disco.settings import DiscoSettings

from .conftest import client

pytestmark = pytest.mark.timeout(120)


def upper_stream(fd, size, url, params):
    """An input stream (4 arguments: gets `params`): open a local file, upper-case its lines,
    prefix each with params['prefix']."""
    prefix = (params or {}).get("prefix", b"")
    with open(url, "rb") as f:
        data = f.read()
    lines = [prefix + line.upper() for line in data.splitlines(keepends=True)]
    return lines, len(data), url


def records(cluster, tag: str) -> list:
    """The records of `tag`, read as a client of the in-process cluster."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISCO_MASTER", cluster.master_url)
        patch.setenv("DISCO_PORT", str(cluster.disco_port))
        return list(result_iterator([f"tag://{tag}"], ddfs=cluster.master_url))


def test_chunk_reads_a_replaced_stdin(mini, monkeypatch):
    cluster = mini(nodes=2)
    ddfs = client(cluster)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"one\ntwo\n")))
    _tag, blobs = ddfs.chunk("s:stdin", ["-"])
    assert len(blobs) == 1 and ddfs.blob_name(blobs[0][0]).startswith("-")
    assert records(cluster, "s:stdin") == [b"one\n", b"two\n"]


def test_chunk_input_stream_with_params(mini, tmp_path):
    cluster = mini(nodes=2)
    ddfs = client(cluster)
    source = tmp_path / "words.txt"
    source.write_bytes(b"alpha\nbeta\n")
    ddfs.chunk("s:upper", [str(source)], input_stream=upper_stream, params={"prefix": b"> "})
    assert records(cluster, "s:upper") == [b"> ALPHA\n", b"> BETA\n"]


def test_cli_chunk_T_in_process_with_stdin_and_gzip(mini, tmp_path, monkeypatch):
    cluster = mini(nodes=2)
    env = {"DISCO_MASTER": cluster.master_url, "DISCO_PORT": str(cluster.disco_port)}
    # `-` through CliRunner's in-process stdin
    done = CliRunner().invoke(cli, ["chunk", "s:cli-stdin", "-"], input=b"x\ny\n", env=env)
    assert done.exit_code == 0 and done.output.startswith("created: "), done.output
    assert records(cluster, "s:cli-stdin") == [b"x\n", b"y\n"]
    # -T: a tuple of streams by dotted name (open by scheme, then gunzip lines)
    (tmp_path / "data.gz").write_bytes(gzip.compress(b"zipped one\nzipped two\n"))
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["chunk", "-T", "disco.worker.task_io.gzip_line_stream",
                                    "s:gz", "./data.gz"], env=env)
    assert done.exit_code == 0 and done.output.startswith("created: "), done.output
    assert records(cluster, "s:gz") == [b"zipped one\n", b"zipped two\n"]


@pytest.mark.timeout(180)
def test_cli_chunk_T_real_processes(shared_cluster, tmp_path):
    (tmp_path / "data.gz").write_bytes(gzip.compress(b"real one\nreal two\n"))
    tag = f"s:real-{os.getpid()}-{tmp_path.name}"
    done = subprocess.run(
        [sys.executable, "-m", "disco.cli.ddfs", "chunk",
         "-T", "disco.worker.task_io.task_input_stream,disco.worker.task_io.gzip_line_reader",
         tag, "./data.gz"],
        cwd=tmp_path, env=shared_cluster.client_env(), capture_output=True, timeout=120,
        check=False)
    assert done.returncode == 0 and done.stdout.startswith(b"created: "), done
    got = list(result_iterator([f"tag://{tag}"], ddfs=shared_cluster.master_url))
    assert got == [b"real one\n", b"real two\n"]
    # `-` from a real pipe: the input streams are not applied to stdin (already open)
    done = subprocess.run(
        [sys.executable, "-m", "disco.cli.ddfs", "chunk", "-T",
         "disco.worker.task_io.gzip_line_stream", tag + "-stdin", "-"],
        input=b"plain\n", cwd=tmp_path, env=shared_cluster.client_env(), capture_output=True,
        timeout=120, check=False)
    assert done.returncode == 0, done
    assert list(result_iterator([f"tag://{tag}-stdin"], ddfs=shared_cluster.master_url)) == [
        b"plain\n"]
    DDFS(settings=DiscoSettings(**shared_cluster.env)).delete(tag)
