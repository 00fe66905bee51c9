"""No escapes (issue 12, item 4): job homes, data servers, DDFS names and job names stay inside
their directories. Unit tests call the real extraction and path checks on real files; the
cluster tests attack a real master and nodes over HTTP."""
from __future__ import annotations

import io
import json
import os
import stat
import time
import urllib.error
import urllib.request
import zipfile

import pytest

from disco.core import Disco
from disco.error import JobPackError
from disco.node import jobhome
from disco.protocol import jobpack
from disco.serving import is_safe_relpath, resolves_inside
from disco.testing.cluster import poll_for

pytestmark = pytest.mark.timeout(120)


# -- job home extraction ---------------------------------------------------------------------

def zip_with(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buf.getvalue()


def symlink_entry(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def staged_pack(tmp_path, home_zip: bytes) -> str:
    staging = tmp_path / "home" / "job"
    staging.mkdir(parents=True)
    jobdict = {"prefix": "Esc", "worker": "w", "owner": "t", "scheduler": {},
               "pipeline": [["map", "split", False]], "inputs": [[0, 0, ["raw://a"]]]}
    (staging / jobhome.JOBFILE).write_bytes(jobpack.pack(2, jobdict, {}, home_zip, b""))
    return str(staging)


@pytest.mark.parametrize("entries", [
    [("../escaped", b"x")],
    [("a/../../escaped", b"x")],
    [("/tmp/escaped-abs", b"x")],
    [("..\\escaped", b"x")],
    [symlink_entry("link", "/etc/passwd")],
    [symlink_entry("dir/link", "../../..")],
], ids=["dotdot", "nested-dotdot", "absolute", "backslash", "symlink-abs", "symlink-rel"])
def test_hostile_job_home_entries_are_refused(tmp_path, entries):
    staging = staged_pack(tmp_path, zip_with([("w", b"#!/bin/sh\n")] + entries))
    with pytest.raises(jobhome.JobHomeEscape, match="job home entry"):
        jobhome._extract(staging, "w")
    assert not (tmp_path / "home" / "escaped").exists()
    assert not os.path.lexists(os.path.join(staging, "link"))
    assert not os.path.exists(os.path.join(staging, jobhome.MARKER))


@pytest.mark.parametrize("worker", ["../w", "/bin/sh", "a/../../w"])
def test_worker_outside_the_job_home_is_refused(tmp_path, worker):
    staging = staged_pack(tmp_path, zip_with([("w", b"#!/bin/sh\n")]))
    with pytest.raises(jobhome.JobHomeEscape, match="outside its job home"):
        jobhome._extract(staging, worker)


def test_a_normal_job_home_extracts(tmp_path):
    staging = staged_pack(tmp_path, zip_with([("w", b"#!/bin/sh\n"), ("lib/m.py", b"x = 1\n")]))
    jobhome._extract(staging, "w")
    assert os.access(os.path.join(staging, "w"), os.X_OK)
    assert open(os.path.join(staging, "lib", "m.py")).read() == "x = 1\n"


def test_garbage_job_home_is_a_clear_error(tmp_path):
    staging = staged_pack(tmp_path, b"PK\x03\x04 not a zip at all")
    with pytest.raises(JobPackError, match="not a zip file"):
        jobhome._extract(staging, "w")


# -- safe paths ------------------------------------------------------------------------------

@pytest.mark.parametrize("relpath", ["", "/etc/passwd", "../x", "a/../../x", "a/\x00b", "\\x"])
def test_unsafe_relpaths(relpath):
    assert not is_safe_relpath(relpath)


def test_symlinks_out_of_the_root_are_refused_but_volume_links_allowed(tmp_path):
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    (root / "host" / "job").mkdir(parents=True)
    elsewhere.mkdir()
    (elsewhere / "secret").write_text("s")
    os.symlink(elsewhere / "secret", root / "host" / "job" / "out")
    assert not resolves_inside(str(root), "host/job/out")
    os.symlink(elsewhere, root / "vol1")
    assert resolves_inside(str(root), "vol1/secret", volume_links=True)
    assert not resolves_inside(str(root), "vol1/secret")
    os.symlink(elsewhere / "secret", elsewhere / "link-out")
    os.symlink("/etc", root / "vol2")
    assert not resolves_inside(str(root), "vol1/../../etc/passwd", volume_links=True)


def test_job_name_prefixes():
    for bad in ["a/b", "a.b", "a\x00b", "x" * 201]:
        with pytest.raises(JobPackError, match="^invalid prefix"):
            jobpack.validate_prefix(bad)
    assert jobpack.validate_prefix("x" * 200)


# -- a real cluster --------------------------------------------------------------------------

def http(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=20) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def raw_get(host: str, port: int, path: str) -> int:
    """GET with the path sent as is (urllib and aiohttp clients normalise `..`)."""
    import http.client
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def test_job_with_hostile_job_home_fails_cleanly(shared_cluster, tmp_path):
    marker = f"escaped-{os.getpid()}-{time.time_ns()}"
    home = zip_with([("w", b"#!/bin/sh\nexit 0\n"), (f"../../../../../../tmp/{marker}", b"x")])
    jobdict = {"prefix": "Escape", "worker": "w", "owner": "t", "scheduler": {},
               "pipeline": [["map", "split", False]], "inputs": [[0, 0, ["raw://a"]]]}
    disco = Disco(shared_cluster.master_url)
    name = disco.submit(jobpack.pack(2, jobdict, {}, home, b""))
    poll_for(lambda: disco.jobinfo(name)["active"] == "dead", 60,
             message=lambda: str(disco.jobinfo(name)))
    events = " ".join(str(e) for _o, e in disco.events(name))
    assert "outside the job home" in events
    assert not os.path.lexists(f"/tmp/{marker}")
    assert not any(marker in names for _d, _s, names in os.walk(shared_cluster.root))


def test_data_servers_refuse_traversal(shared_cluster):
    host = shared_cluster.hosts[0]
    for path in ["/disco/../../etc/passwd", "/disco/%2e%2e/%2e%2e/etc/passwd",
                 "/ddfs/../../../etc/passwd", "/ddfs/vol0/..%2f..%2f..%2fetc/passwd",
                 "/disco//etc/passwd"]:
        status = raw_get(host, shared_cluster.port, path)
        assert status in (400, 403, 404), (path, status)


def test_ddfs_names_cannot_escape(shared_cluster):
    master, put = shared_cluster.master_url, shared_cluster.put_port
    host = shared_cluster.hosts[0]
    for name in ["..%2f..%2fetc", "a%00b", "x$y", "..", "a%2fb"]:
        assert http("GET", f"{master}/ddfs/tag/{name}")[0] in (403, 404), name
        assert http("POST", f"{master}/ddfs/tag/{name}", b"[]")[0] in (403, 404), name
        assert http("GET", f"{master}/ddfs/new_blob/{name}")[0] in (403, 404), name
        status, _ = http("PUT", f"http://{host}:{put}/ddfs/{name}$5f0-1-1", b"data")
        assert status in (400, 403, 404), (name, status)
    status, _ = http("PUT", f"http://{host}:{put}/ddfs/internal/tag/..$5f0-1-1", b"{}")
    assert status in (403, 404)


def test_long_tag_names_get_a_clear_403(shared_cluster):
    master = shared_cluster.master_url
    for length in (232, 240, 255, 300, 511, 600):
        status, body = http("POST", f"{master}/ddfs/tag/{'t' * length}", b'[["raw://a"]]')
        assert status == 403, (length, status, body)
    longest = "t" * 231
    status, body = http("POST", f"{master}/ddfs/tag/{longest}", b'[["raw://a"]]')
    assert status == 200, body
    assert json.loads(http("GET", f"{master}/ddfs/tag/{longest}")[1])["urls"] == [["raw://a"]]
    assert b"at most 231 characters" in http("GET", f"{master}/ddfs/tag/{'t' * 240}")[1]


@pytest.mark.parametrize("body", [b"[1]", b"garbage", b'{"objects": "x"}', b'{"objects": [1]}',
                                  b'{"objects": [["blob", "vol0"]]}', b"\xff\xfe", b"null",
                                  b'{"objects": [["blob", "../..", "x$1-1-1"]]}'])
def test_internal_delete_bodies_get_a_4xx(shared_cluster, body):
    host = shared_cluster.hosts[0]
    status, reply = http("POST", f"http://{host}:{shared_cluster.put_port}/ddfs/internal/delete",
                         body)
    assert 400 <= status < 500 or (status == 200 and json.loads(reply) == {"deleted": 0}), \
        (status, reply)


@pytest.mark.parametrize("path,body", [
    ("scan", b"[]"), ("scan", b'{"partial_grace": "x"}'), ("replicate", b"{}"),
    ("replicate", b'{"kind": "blob", "objname": "../x", "source": "http://a"}'),
    ("replicate", b'{"kind": "../", "objname": "a$1-1-1", "source": "file:///etc/passwd"}'),
])
def test_internal_bodies_get_a_4xx(shared_cluster, path, body):
    host = shared_cluster.hosts[0]
    status, _ = http("POST", f"http://{host}:{shared_cluster.put_port}/ddfs/internal/{path}", body)
    assert 400 <= status < 500


def test_saving_a_symlinked_output_is_refused(tmp_path):
    from disco.node.protocol import Output
    from disco.node.save import SaveError, upload_output
    home = tmp_path / "home"
    home.mkdir()
    os.symlink("/etc/passwd", home / "out")
    with pytest.raises(SaveError, match="resolves outside the job home"):
        upload_output(None, "J@1:2:3", 0, 0, str(home), Output(0, "out", 10))
