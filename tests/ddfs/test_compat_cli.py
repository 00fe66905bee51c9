"""Every `ddfs` subcommand and option of DISCO.md §5, with Disco's output formats, against an
in-process DDFS cluster (`mini`)."""
from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest
from click.testing import CliRunner

from disco.cli.ddfs import cli
from disco.fileutils import DiscoOutputStream

from .conftest import client

pytestmark = pytest.mark.timeout(120)


def run(cluster, *args, input=None, ok=True):
    env = {"DISCO_MASTER": cluster.master_url, "DISCO_PORT": str(cluster.disco_port)}
    result = CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=not ok)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def lines(result) -> list[str]:
    return result.output.splitlines()


@pytest.fixture
def ddfs_cluster(mini, tmp_path):
    """A cluster with tag `c:data` holding two text blobs and `c:meta` -> `c:data`."""
    cluster = mini(nodes=2)
    for name, text in (("a.txt", "alpha\n"), ("b.txt", "beta\n")):
        (tmp_path / name).write_text(text)
    run(cluster, "push", "c:data", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"))
    run(cluster, "tag", "c:meta", "tag://c:data")
    return cluster


def test_compat_cp_get_stat(ddfs_cluster):
    run(ddfs_cluster, "cp", "c:data", "c:copy")
    assert sorted(lines(run(ddfs_cluster, "urls", "c:copy"))) == \
        sorted(lines(run(ddfs_cluster, "urls", "c:data")))
    tag = json.loads(run(ddfs_cluster, "get", "c:copy").output)
    assert tag["id"].startswith("c:copy$") and len(tag["urls"]) == 2
    stat = lines(run(ddfs_cluster, "stat", "c:copy"))
    assert len(stat) == 1 and "c:copy$" in stat[0] and "\t" in stat[0]
    assert "disco://" not in stat[0]  # no urls
    assert len(lines(run(ddfs_cluster, "stat", "-p", "c:"))) == 3


def test_compat_chtok(ddfs_cluster):
    run(ddfs_cluster, "chtok", "-r", "c:data", "rtok")
    ddfs = client(ddfs_cluster)
    assert ddfs.getattr("c:data", "ddfs:read-token", token="rtok") == "rtok"
    denied = run(ddfs_cluster, "urls", "c:data", ok=False)
    assert denied.exit_code == 1
    assert len(lines(run(ddfs_cluster, "-t", "rtok", "urls", "c:data"))) == 2
    run(ddfs_cluster, "-t", "rtok", "chtok", "-w", "c:data", "wtok")
    assert client(ddfs_cluster, DDFS_WRITE_TOKEN="wtok").getattr(
        "c:data", "ddfs:write-token", token="wtok") == "wtok"


def test_compat_find_and_warn_missing(ddfs_cluster):
    assert lines(run(ddfs_cluster, "find", "c:meta")) == ["tag://c:meta",
                                                          "tag://c:meta\ttag://c:data"]
    run(ddfs_cluster, "tag", "c:broken", "tag://c:nothere")
    out = lines(run(ddfs_cluster, "find", "-w", "c:broken"))
    assert out == ["tag://c:broken", "Tag not found: tag://c:broken\ttag://c:nothere"]
    assert "tag://c:meta" in lines(run(ddfs_cluster, "find", "-p", "c:m"))


def test_compat_blobs_ignore_missing_and_prefix(ddfs_cluster):
    assert len(lines(run(ddfs_cluster, "blobs", "c:meta"))) == 2
    assert len(lines(run(ddfs_cluster, "blobs", "-p", "c:"))) == 4  # c:data + c:meta
    run(ddfs_cluster, "tag", "c:broken", "tag://c:nothere")
    assert lines(run(ddfs_cluster, "blobs", "-i", "c:broken")) == []


def test_compat_ls_recursive_and_rm_prefix(ddfs_cluster):
    out = lines(run(ddfs_cluster, "ls", "-r", "c:d"))
    assert out[0] == "c:data" and len(out) == 4 and out[-1] == ""
    assert all(line.startswith("disco://") for line in out[1:3])
    assert lines(run(ddfs_cluster, "rm", "-p", "c:")) == ["deleted", "deleted"]
    assert run(ddfs_cluster, "ls", "c:").output == ""


def test_compat_touch_is_silent_and_put_replaces(ddfs_cluster):
    assert run(ddfs_cluster, "touch", "c:new").output == ""
    assert run(ddfs_cluster, "exists", "c:new").output == "True\n"
    run(ddfs_cluster, "put", "c:new", "raw://x raw://y")  # one input with two replicas
    assert lines(run(ddfs_cluster, "urls", "c:new")) == ["raw://x\traw://y"]
    run(ddfs_cluster, "delattr", "c:new", "nothing")
    run(ddfs_cluster, "setattr", "c:new", "k", "v")
    assert lines(run(ddfs_cluster, "attrs", "c:new")) == ["k\tv"]


def test_compat_push_tarball_compressed_and_plain(ddfs_cluster, tmp_path):
    tarball = tmp_path / "t.tar"
    with tarfile.open(tarball, "w") as tar:
        for name, data in (("x.txt", b"ex\n"), ("skip.txt", b"no\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = run(ddfs_cluster, "push", "-x", "-z", "-E", "skip", "c:tarz", str(tarball)).output
    assert "extracted x_txt_gz" in out and "skip" not in out
    raw = run(ddfs_cluster, "cat", "c:tarz").stdout_bytes
    assert gzip.decompress(raw) == b"ex\n"
    out = run(ddfs_cluster, "push", "-x", "-I", "x.", "c:tar", str(tarball)).output
    assert "extracted x_txt" in out
    assert run(ddfs_cluster, "cat", "c:tar").output == "ex\n"


def test_compat_push_directory_needs_r(ddfs_cluster, tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "f").write_text("f\n")
    out = run(ddfs_cluster, "push", "c:dir", str(tmp_path / "dir")).output
    assert "is a directory (not pushing)." in out


def test_compat_chunk_and_xcat_reader(ddfs_cluster, tmp_path, monkeypatch):
    source = tmp_path / "lines.txt"
    # a chunk is closed once it holds more than -S MB, checked after each 1 MB hunk (as Disco)
    expected = [f"line {i} of the chunked text, padded to forty bytes" for i in range(60000)]
    source.write_text("".join(line + "\n" for line in expected))
    monkeypatch.chdir(tmp_path)
    out = lines(run(ddfs_cluster, "chunk", "-S", "0.00001", "-n", "2", "c:chunks", "./lines.txt"))
    assert len(out) > 1 and all(line.startswith("created: ") for line in out)
    assert all(len(line.split("\t")) == 2 for line in out)  # two replicas each
    decoded = lines(run(ddfs_cluster, "xcat", "c:chunks"))
    assert decoded == expected
    # stdin with '-'
    env = {**os.environ, "DISCO_MASTER": ddfs_cluster.master_url,
           "DISCO_PORT": str(ddfs_cluster.disco_port)}
    done = subprocess.run(
        [sys.executable, "-m", "disco.cli.ddfs", "chunk", "c:stdin", "-"],
        input=b"one\ntwo\n",
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.startswith(b"created: "), done
    assert lines(run(ddfs_cluster, "xcat", "c:stdin")) == ["one", "two"]
    # -R: a reader given by dotted name (here the raw line reader over a text blob)
    records = lines(run(ddfs_cluster, "xcat", "-R", f"{__name__}.line_reader",
                        "c:data"))
    assert sorted(records) == ["LINE alpha", "LINE beta"]


def line_reader(fd, size, url, params=None):
    """A reader for `xcat -R`: every line of a blob, upper-cased marker prepended."""
    for line in fd:
        yield "LINE " + line.decode().strip()


def test_compat_xcat_kv_records(ddfs_cluster, tmp_path):
    buf = io.BytesIO()
    out = DiscoOutputStream(buf)
    out.add("k1", 1)
    out.add(b"k2", [2])
    out.close()
    path = tmp_path / "records"
    path.write_bytes(buf.getvalue())
    run(ddfs_cluster, "push", "c:kv", str(path))
    assert lines(run(ddfs_cluster, "xcat", "c:kv")) == ["k1\t1", "k2\t[2]"]


def test_compat_chunk_a_tag(ddfs_cluster):
    """`ddfs chunk NEW TAG` chunks the blobs of an existing tag (bare names are tags)."""
    out = lines(run(ddfs_cluster, "chunk", "c:rechunked", "c:data"))
    assert len(out) == 2
    assert sorted(lines(run(ddfs_cluster, "xcat", "c:rechunked"))) == ["alpha", "beta"]
