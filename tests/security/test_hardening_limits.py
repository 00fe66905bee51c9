"""Server limits (issue 12, item 6): slow clients, connection counts and body sizes, against a
real master process (disco/serverlimits.py, docs/security-hardening.md "Limits")."""
from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from disco.testing.cluster import poll_for

pytestmark = pytest.mark.timeout(120)

LIMITS = {"DISCO_HTTP_MAX_CONNECTIONS": 40, "DISCO_HTTP_MAX_CLIENT_CONNECTIONS": 12,
          "DISCO_HTTP_IDLE_TIMEOUT": 2, "DISCO_HTTP_MAX_BODY": 4096}


@pytest.fixture
def master(cluster):
    local = cluster(hosts=("localhost",), workers=1, settings=LIMITS)
    parts = urlsplit(local.master_url)
    return local, parts.hostname, parts.port


def version_ok(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/disco/version", timeout=5) as reply:
        return reply.status == 200


def slow_socket(host: str, port: int, head: bytes = b"GET /disco/version HTTP/1.1\r\nHost: x\r\n"
                ) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(head)  # never the blank line that ends the head
    return sock


def is_closed(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(4096) == b"" or True
    except socket.timeout:
        return False
    except OSError:
        return True


def test_slowloris_cannot_starve_the_master(master):
    local, host, port = master
    attackers = [slow_socket(host, port) for _ in range(60)]
    try:
        # more half-open connections than allowed: the oldest idle ones were closed, and a
        # real request still gets through at once
        started = time.monotonic()
        assert version_ok(local.master_url)
        assert time.monotonic() - started < 5
        # at most DISCO_HTTP_MAX_CLIENT_CONNECTIONS of them are still open (the rest evicted)
        still_open = [s for s in attackers if not is_closed(s)]
        assert len(still_open) <= LIMITS["DISCO_HTTP_MAX_CLIENT_CONNECTIONS"]
        # and every trickling connection is closed within the idle timeout
        for sock in attackers:
            try:
                sock.sendall(b"X-a: b\r\n")
            except OSError:  # already closed to make room
                pass
        poll_for(lambda: all(is_closed(s) for s in attackers), 15,
                 message="slow connections still open past DISCO_HTTP_IDLE_TIMEOUT")
        assert version_ok(local.master_url)
    finally:
        for sock in attackers:
            sock.close()


def test_busy_connections_over_the_limit_get_503(master):
    local, host, port = master
    # requests in progress (a body that never arrives) are not evicted
    head = (b"POST /disco/ctrl/get_results HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 100\r\n\r\n[")
    busy = []
    try:
        for _ in range(30):
            busy.append(slow_socket(host, port, head))
            time.sleep(0.05)  # let the master start each request: busy, not idle
        time.sleep(0.5)
        replies = []
        for sock in busy:
            sock.settimeout(0.05)
            try:
                replies.append(sock.recv(4096))
            except socket.timeout:
                replies.append(b"")
            except OSError as exc:
                replies.append(repr(exc).encode())
        refused = [r for r in replies if r.startswith(b"HTTP/1.1 503")]
        assert refused, replies
        assert b"DISCO_HTTP_MAX_CLIENT_CONNECTIONS" in refused[0]
    finally:
        for sock in busy:
            sock.close()
    # once they go, the master answers again
    poll_for(lambda: version_ok(local.master_url), 10)


def post(url: str, body: bytes, chunked: bool = False) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        if chunked:
            conn.request("POST", parts.path, body=iter([body]), encode_chunked=True)
        else:
            conn.request("POST", parts.path, body=body)
        return conn.getresponse().status
    finally:
        conn.close()


def test_bodies_over_the_limit_get_413(master):
    local, _host, _port = master
    url = f"{local.master_url}/disco/ctrl/save_settings"
    assert post(url, b"{" + b" " * 5000 + b"}") == 413
    assert post(url, b"{" + b" " * 5000 + b"}", chunked=True) == 413
    assert post(url, b"{}") != 413
    # job packs have their own limit (DISCO_JOBPACK_MAX): a large one is read
    status = post(f"{local.master_url}/disco/job/new", b"\0" * 20000)
    assert status == 200
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(urllib.request.Request(url, data=b"x" * 10000), timeout=5)
    assert b"DISCO_HTTP_MAX_BODY" in exc.value.read()


def test_a_stalled_blob_upload_gives_its_slot_back(master):
    local, _host, _port = master
    put = ("localhost", local.put_port)
    stalled = []
    for _ in range(3):  # DDFS_MAX_UPLOADERS: every upload slot held by a stalled client
        sock = socket.create_connection(put, timeout=10)
        sock.sendall(b"PUT /ddfs/stall$5f0-1-1 HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 1000\r\n\r\n0123456789")
        stalled.append(sock)
    try:
        started = time.monotonic()
        for sock in stalled:
            sock.settimeout(15)
            assert sock.recv(4096).startswith(b"HTTP/1.1 408"), "stalled upload not timed out"
        assert time.monotonic() - started < 10
        status = post_blob(f"http://localhost:{local.put_port}/ddfs/fresh$5f0-1-2", b"data")
        assert status == 201
    finally:
        for sock in stalled:
            sock.close()


def post_blob(url: str, body: bytes) -> int:
    req = urllib.request.Request(url, data=body, method="PUT")
    with urllib.request.urlopen(req, timeout=10) as reply:
        return reply.status
