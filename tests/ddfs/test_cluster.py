"""DDFS on a real LocalCluster (master process + 3 node processes on 127.0.0.2-4)."""
from __future__ import annotations

import io
import os
import threading
import time

import pytest

from disco.ddfs import DDFS
from disco.error import CommError
from disco.settings import DiscoSettings
from disco.testing.cluster import LocalCluster, poll_for

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


@pytest.fixture
def cluster(tmp_path):
    c = LocalCluster(tmp_path / "cluster", hosts=HOSTS,
                     settings={"DDFS_BLOB_REPLICAS": 2, "DDFS_TAG_REPLICAS": 2,
                               "DDFS_NODE_LOSS_GRACE": 600, "DISCO_NODE_RESTART_DELAY": 600})
    c.start(timeout=60)
    c.wait_for_nodes(timeout=60)
    yield c
    c.stop()


def ddfs_for(c: LocalCluster) -> DDFS:
    return DDFS(settings=DiscoSettings(**{**c.env, "DDFS_CONNECT_TIMEOUT": "1"}))


def wait_gc(ddfs: DDFS) -> None:
    ddfs._json("GET", f"{ddfs.master}/ddfs/ctrl/gc_start")
    time.sleep(0.5)
    poll_for(lambda: ddfs._json("GET", f"{ddfs.master}/ddfs/ctrl/gc_status") == "", 120)


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
