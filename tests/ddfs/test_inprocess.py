"""DDFS master + nodes in one process; the real sync client over HTTP."""
from __future__ import annotations

import io
import os
import threading

import pytest

from disco.error import CommError

from .conftest import client

pytestmark = pytest.mark.timeout(120)


def test_push_tag_read_back(mini, tmp_path):
    cluster = mini(DDFS_BLOB_REPLICAS=2, DDFS_TAG_REPLICAS=2)
    ddfs = client(cluster)
    data = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "input.bin"
    src.write_bytes(data)
    tag_urls, blobs = ddfs.push("test:push", [str(src), (io.BytesIO(b"hello"), "small")])
    assert len(tag_urls) == 2 and all(len(reps) == 2 for reps in blobs)
    assert ddfs.exists("test:push") and not ddfs.exists("test:nothere")
    assert "test:push" in ddfs.list("test:")
    got = [f.read() for f in ddfs.pull("test:push")]
    assert sorted(got, key=len) == [b"hello", data]
    for reps in ddfs.blobs("test:push"):
        for url in reps:
            assert ddfs.open_url(url).read() in (data, b"hello")


def test_update_dedupes_and_noop_keeps_id(mini):
    ddfs = client(mini())
    ddfs.tag("test:u", [["http://x/a$1-1-1"]])
    first = ddfs.get("test:u")
    ddfs.tag("test:u", [["http://y/a$2-2-2"]], update=True)
    assert ddfs.get("test:u")["id"] == first["id"]
    ddfs.tag("test:u", [["http://x/b$1-1-1"]], update=True)
    assert ddfs.urls("test:u") == [["http://x/b$1-1-1"], ["http://x/a$1-1-1"]]
    ddfs.tag("test:u", [["tag://test:other"]])
    assert ddfs.urls("test:u")[0] == ["tag://test:other"]


def test_tokens(mini):
    ddfs = client(mini())
    ddfs.tag("test:tok", [["http://x/a"]], token="secret")
    with pytest.raises(CommError) as err:
        ddfs.get("test:tok")
    assert err.value.code == 401
    assert ddfs.exists("test:tok")
    assert ddfs.get("test:tok", token="secret")["urls"] == [["http://x/a"]]
    assert ddfs.getattr("test:tok", "ddfs:write-token", token="secret") == "secret"
    ddfs.setattr("test:tok", "ddfs:read-token", "r", token="secret")
    assert ddfs.urls("test:tok", token="r") == [["http://x/a"]]
    with pytest.raises(CommError) as err:
        ddfs.tag("test:tok", [["http://x/b"]], token="r")
    assert err.value.code == 401
    with pytest.raises(CommError) as err:
        ddfs.getattr("test:tok", "ddfs:write-token", token="r")
    assert err.value.code == 401
    assert ddfs.urls("tag://token:secret@/test:tok") == [["http://x/a"]]


def test_attributes_delete_and_recreate(mini):
    ddfs = client(mini())
    ddfs.setattr("test:a", "k", "v")
    assert ddfs.getattr("test:a", "k") == "v" and ddfs.attrs("test:a") == {"k": "v"}
    ddfs.delattr("test:a", "k")
    with pytest.raises(CommError) as err:
        ddfs.getattr("test:a", "k")
    assert err.value.code == 404
    assert ddfs.delete("test:a") == "deleted"
    assert not ddfs.exists("test:a") and "test:a" not in ddfs.list()
    assert ddfs.delete("test:a") == "deleted"
    ddfs.tag("test:a", [["http://x/c"]])
    assert ddfs.urls("test:a") == [["http://x/c"]]


def test_bad_input(mini):
    cluster = mini()
    ddfs = client(cluster)
    for bad in ("a/b", "..", "a b", "x" * 600, "a\x00b"):
        with pytest.raises(CommError) as err:
            ddfs._json("GET", f"{cluster.master_url}/ddfs/tag/{bad}")
        assert err.value.code in (403, 404), bad
    with pytest.raises(CommError) as err:
        ddfs._json("POST", f"{cluster.master_url}/ddfs/tag/ok", b"{not json")
    assert err.value.code == 403
    with pytest.raises(CommError) as err:
        ddfs._json("POST", f"{cluster.master_url}/ddfs/tag/ok", b'[["a", 1]]')
    assert err.value.code == 403
    with pytest.raises(CommError) as err:
        ddfs._json("GET", f"{cluster.master_url}/ddfs/new_blob/bad$name")
    assert err.value.code == 403
    with pytest.raises(CommError) as err:
        ddfs._json("GET", f"{cluster.master_url}/ddfs/new_blob/x?replicas=9")
    assert err.value.code == 403


def test_concurrent_updates_lose_nothing(mini):
    ddfs = client(mini())
    errors = []

    def worker(i: int) -> None:
        try:
            ddfs.tag("test:many", [[f"http://x/blob{i}$1-1-1"]], delayed=i % 2 == 0)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(ddfs.urls("test:many")) == 50


def test_kill_node_then_gc_restores_replicas(mini, tmp_path):
    cluster = mini(DDFS_BLOB_REPLICAS=2, DDFS_TAG_REPLICAS=2)
    ddfs = client(cluster)
    payloads = {f"b{i}": os.urandom(100_000 + i) for i in range(6)}
    ddfs.push("test:gc", [(io.BytesIO(v), k) for k, v in payloads.items()])
    victim = cluster.hosts[0]
    cluster.kill(victim)
    got = {ddfs.blob_name(f.url): f.read() for f in ddfs.pull("test:gc")}
    assert got == payloads
    cluster.run_gc()
    for reps in ddfs.urls("test:gc"):
        assert len(reps) == 2 and all(victim not in u for u in reps)
        for url in reps:
            assert ddfs.open_url(url).read() == payloads[ddfs.blob_name(url)]
    stats = ddfs._json("GET", f"{cluster.master_url}/ddfs/ctrl/gc_stats")
    assert "Blobs kept" in stats["stats"]


def test_gc_keeps_referenced_and_deletes_orphans(mini, tmp_path):
    cluster = mini(DDFS_ORPHAN_GRACE=0)
    ddfs = client(cluster)
    _, kept = ddfs.push("test:keep", [(io.BytesIO(b"keep"), "keep")])
    orphan_url = ddfs._push((io.BytesIO(b"orphan"), "orphan"))[0]
    ddfs.push("test:gone", [(io.BytesIO(b"gone"), "gone")])
    ddfs.delete("test:gone")
    cluster.run_gc()
    assert ddfs.open_url(kept[0][0]).read() == b"keep"
    with pytest.raises(CommError):
        ddfs.open_url(orphan_url).read()
    assert ddfs.list() == ["test:keep"]


def test_restart_rebuilds_tags(mini, tmp_path):
    cluster = mini()
    ddfs = client(cluster)
    ddfs.tag("test:persist", [["http://x/a"]])
    ddfs.tag("test:dead", [["http://x/b"]])
    ddfs.delete("test:dead")
    # a fresh DDFS master over the same nodes: the tag set comes back from the nodes
    cluster.call(cluster.runners["master"][0].cleanup())
    cluster.call(cluster._start_master())
    assert ddfs.urls("test:persist") == [["http://x/a"]]
    assert not ddfs.exists("test:dead")
