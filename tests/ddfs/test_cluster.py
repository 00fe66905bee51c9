"""DDFS on a real LocalCluster (master process + 3 node processes on 127.0.0.2-4)."""
from __future__ import annotations

import io
import os
import threading

import pytest

from disco.ddfs import DDFS
from disco.error import CommError
from disco.settings import DiscoSettings
from disco.testing.cluster import LocalCluster, poll_for
from tests.conftest import cluster_kind

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


@pytest.fixture
def cluster(tmp_path, request):
    c = cluster_kind(request)(tmp_path / "cluster", hosts=HOSTS,
                     settings={"DDFS_BLOB_REPLICAS": 2, "DDFS_TAG_REPLICAS": 2,
                               "DDFS_NODE_LOSS_GRACE": 600, "DISCO_NODE_RESTART_DELAY": 600})
    c.start(timeout=60)
    c.wait_for_nodes(timeout=60)
    yield c
    try:
        c.check_invariants()
    finally:
        c.stop()


def ddfs_for(c: LocalCluster) -> DDFS:
    return DDFS(settings=DiscoSettings(**{**c.env, "DDFS_CONNECT_TIMEOUT": "1"}))


def wait_gc(ddfs: DDFS) -> None:
    ddfs._json("GET", f"{ddfs.master}/ddfs/ctrl/gc_start")  # gc_status is set before it replies
    poll_for(lambda: ddfs._json("GET", f"{ddfs.master}/ddfs/ctrl/gc_status") == "", 120)


@pytest.mark.process
def test_replicated_push_survives_kill_and_gc_restores(cluster):
    ddfs = ddfs_for(cluster)
    payloads = {f"blob{i}": os.urandom(200_000 + i) for i in range(8)}
    ddfs.push("cl:data", [(io.BytesIO(v), k) for k, v in payloads.items()])
    assert {ddfs.blob_name(f.url): f.read() for f in ddfs.pull("cl:data")} == payloads
    victim = HOSTS[0]
    cluster.kill_node(victim)
    cluster.wait_for_disconnect(victim)
    assert {ddfs.blob_name(f.url): f.read() for f in ddfs.pull("cl:data")} == payloads
    wait_gc(ddfs)
    for reps in ddfs.urls("cl:data"):
        assert len(reps) >= 2 and all(victim not in u for u in reps), reps
        for url in reps:
            assert ddfs.open_url(url).read() == payloads[ddfs.blob_name(url)]


def test_concurrent_tag_updates_and_tokens(cluster):
    ddfs = ddfs_for(cluster)
    errors: list = []

    def add(i: int) -> None:
        try:
            ddfs.tag("cl:many", [[f"http://x/b{i}$1-1-1"]])
        except Exception as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(ddfs.urls("cl:many")) == 50
    ddfs.tag("cl:secret", [["http://x/a"]], token="tok")
    assert ddfs.exists("cl:secret")
    with pytest.raises(CommError) as refused:  # a read token is needed
        ddfs.get("cl:secret")
    assert refused.value.code == 401
    assert ddfs.urls("cl:secret", token="tok") == [["http://x/a"]]


def test_gc_never_deletes_referenced(cluster):
    ddfs = ddfs_for(cluster)
    _, blobs = ddfs.push("cl:keep", [(io.BytesIO(b"keep me"), "keep")])
    wait_gc(ddfs)
    for url in blobs[0]:
        assert ddfs.open_url(url).read() == b"keep me"


def test_push_of_many_files_keeps_order_and_a_cut_upload_leaves_nothing(cluster, tmp_path):
    # several files upload at once (DDFS.push) and the node writes a piece while it reads the
    # next: the tag lists the blobs in the order given, each with its own content; an upload
    # cut short in the middle of a large body stores nothing and leaves no partial file
    import socket
    import urllib.parse
    ddfs = ddfs_for(cluster)
    paths = []
    for i in range(7):
        path = tmp_path / f"part{i}"
        path.write_bytes(bytes([i]) * ((9 << 20) if i == 3 else 1000 + i))
        paths.append(str(path))
    ddfs.push("test:many", paths)
    blobs = list(ddfs.blobs("test:many"))
    assert [ddfs.blob_name(urls[0]) for urls in blobs] == [f"part{i}" for i in range(7)]
    for i, urls in enumerate(blobs):
        with ddfs.open_replicas(urls) as f:
            data = f.read()
        assert data == bytes([i]) * ((9 << 20) if i == 3 else 1000 + i)
    put_url = ddfs._json("GET", f"{ddfs.master}/ddfs/new_blob/cut")[0]
    parts = urllib.parse.urlsplit(put_url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(f"PUT {parts.path} HTTP/1.1\r\nHost: x\r\nContent-Length: {20 << 20}\r\n\r\n"
                     .encode() + b"x" * (9 << 20))
    root = cluster.env["DISCO_ROOT"]

    def leftovers():
        return [name for _dir, _dirs, files in os.walk(root) for name in files
                if name.startswith(("!partial.cut", "cut$"))]
    poll_for(lambda: not leftovers(), 30)
    ddfs.push("test:after", [paths[0]])
    assert len(list(ddfs.blobs("test:after"))) == 1
