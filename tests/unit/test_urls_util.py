"""URL helpers, disco.util input expansion and disk sort, disco.comm over a local server."""
from __future__ import annotations

import http.server
import os
import threading

import pytest

from disco import comm, util
from disco.error import CommError, DiscoError
from disco.urls import (dir_url, disco_url, format_index_line, hexhash, job_path,
                        parse_index_line, schemesplit, urljoin, urlresolve, urlsplit, urltoken)


def test_hexhash_is_first_md5_byte():
    assert hexhash(b"WordCount@57f:ea20f:9fd7f") == hexhash("WordCount@57f:ea20f:9fd7f")
    assert len(hexhash("x")) == 2 and int(hexhash("x"), 16) >= 0


def test_urlsplit_forms():
    assert urlsplit("file:///abs/path") == ("file", ("", ""), "/abs/path")
    assert urlsplit("/abs/path") == ("", ("", ""), "/abs/path")
    assert urlsplit("tag://name") == ("tag", ("", ""), "name")
    assert urlsplit("tag://u:tok@/name")[2] == "name"
    assert urlsplit("disco://h/disco/h/ab/j/f", disco_port=8989) == (
        "http", ("h", "8989"), "disco/h/ab/j/f")
    assert urlsplit("disco://h/ddfs/vol0/blob/x", localhost="h", disco_port=1,
                    ddfs_data="/dd", disco_data="/dc") == ("file", ("", ""), "/dd/vol0/blob/x")
    assert urlsplit("http://h:1/disco/h/x", localhost="h", disco_port=1,
                    disco_data="/dc") == ("file", ("", ""), "/dc/h/x")
    assert urlsplit("http://other:1/disco/h/x", localhost="h", disco_port=1)[0] == "http"


def test_urljoin_inverts_urlsplit():
    for url in ("http://h:80/a/b", "file:///abs", "raw://data", "/p/q"):
        assert urljoin(urlsplit(url, disco_port=8989)) == url


def test_urlresolve_and_token():
    assert urlresolve("tag://t", master="http://m:1") == "http://m:1/ddfs/tag/t"
    assert urlresolve("dir://h/disco/h/x", master="http://m:1").endswith("/disco/h/x")
    assert urlresolve("dir://h:7/disco/x") == "http://h:7/disco/x"
    assert urlresolve("file:///x") == "file:///x"
    assert urltoken("tag://user:secret@/t") == "secret"
    assert urltoken("tag://t") is None
    assert schemesplit("nohost") == ("", "nohost")


def test_layout_builders_and_index_lines():
    assert job_path("n1", "J@1") == f"n1/{hexhash('J@1')}/J@1"
    assert disco_url("n1", "J@1", "a/b") == f"disco://n1/disco/n1/{hexhash('J@1')}/J@1/a/b"
    assert dir_url("n1", "J@1", ".disco/x.results").startswith("dir://n1/disco/n1/")
    line = format_index_line(3, "raw://with space\nand newline", 10)
    assert line.count("\n") == 1
    assert parse_index_line(line.encode()) == (3, "raw://with space%0Aand newline", 10)
    with pytest.raises(ValueError):
        parse_index_line("garbage")


def test_iteration_helpers():
    assert [(k, list(vs)) for k, vs in util.kvgroup([(1, "a"), (1, "b"), (2, "c"), (1, "d")])] \
        == [(1, ["a", "b"]), (2, ["c"]), (1, ["d"])]
    assert util.chainify([[1], [2, 3]]) == [1, 2, 3]
    assert list(util.flatten([1, [2, [b"ab", "cd"]]])) == [1, 2, b"ab", "cd"]
    assert list(util.iterify("abc")) == ["abc"] and util.iterify([1]) == [1]
    assert util.partition(range(5), lambda x: x % 2) == ([1, 3], [0, 2, 4])
    assert sorted(util.shuffled(range(5))) == list(range(5))
    assert list(util.dsorted([5, 3, 1, 4, 2], buffer_size=2, tempdir=os.getcwd())) == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert util.reify("os.path.join") is os.path.join
    assert util.format_size(2048) == "2.0KB"


def test_argcount_and_globalize():
    import functools

    def f(a, b, c):
        return c

    class C:
        def m(self, a, b):
            return a

    assert util.argcount(f) == 3 and util.argcount(functools.partial(f, 1)) == 2
    assert util.argcount(C().m) == 2
    scope = {"injected_name_xyz": 1}
    util.globalize(f, scope)
    assert f.__globals__["injected_name_xyz"] == 1
    del f.__globals__["injected_name_xyz"]


def test_jobname_and_assert_url():
    assert util.jobname("dir://h/disco/h/ab/J@1:2:3/.disco/map-1-0.results") == "J@1:2:3"
    assert util.jobname("disco://h/disco/h/ab/J@1:2:3/map/x") == "J@1:2:3"
    with pytest.raises(DiscoError):
        util.jobname("raw://x")
    with pytest.raises(DiscoError):
        util.assert_url("nohost")
    util.assert_url("http://h/x")


@pytest.mark.timeout(60)
def test_disk_sort_bytes_and_str_keys(tmp_path):
    pairs = [(b"b", 1), ("a", {"v": b"\x00\x01\x02"}), (b"a", 3), ("\u00e9", None), (b"c\x01", [0])]
    got = list(util.disk_sort(None, pairs, str(tmp_path / "sortfile")))
    assert got == [(b"a", 3), ("a", {"v": b"\x00\x01\x02"}), (b"b", 1), (b"c\x01", [0]),
                   ("\u00e9", None)]
    with pytest.raises(ValueError):
        list(util.disk_sort(None, [(b"x\xff", 1)], str(tmp_path / "bad")))
    assert util.decode(util.encode(b"\x01\x02\x00\x01\x01\x02")) == b"\x01\x02\x00\x01\x01\x02"


# --- HTTP: comm and dir:// expansion -------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    unavailable = {"count": 0}
    drop_once: set[str] = set()

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/busy" and self.unavailable["count"] > 0:
            self.unavailable["count"] -= 1
            self._reply(503, b"busy")
            return
        body = self.files.get(self.path)
        if body is None:
            self._reply(404, b"not here")
            return
        start = 0
        if "Range" in self.headers:
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
        part = body[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(part)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if self.path in self.drop_once:
            self.drop_once.discard(self.path)
            self.wfile.write(part[:len(part) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(part)

    def do_PUT(self):
        self.files[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
        self._reply(201, b'"stored"')

    def _reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(comm, "RETRY_BASE", 0.001)
    monkeypatch.setattr(comm, "RETRY_CAP", 0.01)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.timeout(60)
def test_comm_download_upload_and_errors(server):
    Handler.files["/a"] = b"line1\nline2\n"
    assert comm.download(f"{server}/a") == b"line1\nline2\n"
    assert comm.upload([f"{server}/b"], b"payload") == [b'"stored"']
    assert Handler.files["/b"] == b"payload"
    with pytest.raises(CommError) as info:
        comm.download(f"{server}/missing")
    assert info.value.code == 404 and "not here" in str(info.value)
    Handler.unavailable["count"] = 2
    Handler.files["/busy"] = b"finally"
    assert comm.download(f"{server}/busy") == b"finally"
    with pytest.raises(CommError) as info:
        comm.request("GET", "http://127.0.0.1:1/x", retries=1)
    assert info.value.code is None


@pytest.mark.timeout(60)
def test_open_remote_streams_lines_and_resumes(server):
    body = b"".join(b"line %d\n" % i for i in range(50000))
    Handler.files["/big"] = body
    Handler.drop_once.add("/big")
    with comm.open_url(f"{server}/big") as remote:
        assert len(remote) == len(body)
        assert list(remote) == body.splitlines(keepends=True)
        remote.seek(7)
        assert remote.read(6) == b"line 1"


@pytest.mark.timeout(60)
def test_open_local_file_urls(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"a\nb")
    for url in (str(path), f"file://{path}"):
        with comm.open_url(url) as f:
            assert len(f) == 3 and list(f) == [b"a\n", b"b"]


@pytest.mark.timeout(60)
def test_inputlist_expands_dir_and_tag(server, monkeypatch):
    port_url = server.replace("http://", "")
    Handler.files["/disco/h/index.results"] = (
        "0 disco://h/disco/h/x/0 10\n1 disco://h/disco/h/x/1 20\n0 disco://h/disco/h/x/2 5\n"
    ).encode()
    index = f"dir://{port_url}/disco/h/index.results"
    assert util.read_index(index).__next__() == (0, "disco://h/disco/h/x/0", 10)
    assert util.inputlist([index], label=0) == [["disco://h/disco/h/x/0"], ["disco://h/disco/h/x/2"]]
    assert util.inputlist([index], label=False) == [index]
    assert util.ispartitioned([index]) and not util.ispartitioned(["raw://x"])

    class FakeDDFS:
        def __init__(self, *args, **kwargs):
            pass

        def findtags(self, tag):
            assert tag == "tag://data"
            yield "data", [], [["disco://n1/ddfs/b1", "disco://n2/ddfs/b1"], ["disco://n1/ddfs/b2"]]

    monkeypatch.setattr(util.ddfs, "DDFS", FakeDDFS)
    assert util.inputlist(["tag://data", ["raw://a", "raw://b"], "raw://c"]) == [
        ["disco://n1/ddfs/b1", "disco://n2/ddfs/b1"], ["disco://n1/ddfs/b2"],
        ["raw://a", "raw://b"], "raw://c"]
