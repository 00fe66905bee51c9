"""Pure DDFS parts: names, tag update rules, tokens, placement, storage."""
from __future__ import annotations

import random

import pytest

from disco.ddfs_server import blobstore, names
from disco.ddfs_server import tags as tagmodel
from disco.ddfs_server.placement import Candidate, NotEnoughNodes, choose_nodes

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("name", ["a", "A-b_c@d:e", "x" * 511])
def test_valid_names(name):
    assert names.is_valid_name(name)


@pytest.mark.parametrize("name", ["", "a/b", "..", "a b", "a\x00", "x" * 512, "+deleted", "a$b"])
def test_invalid_names(name):
    assert not names.is_valid_name(name)


def test_timestamps_roundtrip_and_order():
    clock = names.Clock()
    a, b = clock.now(), clock.now()
    assert b > a and names.parse_timestamp(names.format_timestamp(a)) == a
    with pytest.raises(names.InvalidName):
        names.parse_objname("../x$1-2-3")


def test_merge_append_prepends_and_noop_keeps():
    assert tagmodel.merge_urls([["c"]], [["a"], ["b"]], False) == (True, [["c"], ["a"], ["b"]])
    assert tagmodel.merge_urls([], [["a"]], False) == (False, [["a"]])


def test_merge_update_dedupes_by_blob_name():
    old = [["disco://h/ddfs/vol0/blob/00/x$1-1-1"]]
    changed, merged = tagmodel.merge_urls([["disco://g/ddfs/vol0/blob/11/x$2-2-2"]], old, True)
    assert not changed and merged == old
    changed, merged = tagmodel.merge_urls([["n/y$1"], ["n/z$1"], ["m/y$2"]], old, True)
    assert changed and merged == [["n/z$1"], ["n/y$1"]] + old


def test_token_rules():
    assert tagmodel.check_token("read", None, None, None) == "write"
    assert tagmodel.check_token("read", None, None, "w") == "read"
    assert tagmodel.check_token("write", None, None, "w") is None
    assert tagmodel.check_token("write", "w", None, "w") == "write"
    assert tagmodel.check_token("read", "x", "r", "w") is None
    assert tagmodel.check_token("read", "r", "r", "w") == "read"
    assert tagmodel.check_token("read", "w", "r", "w") == "write"
    assert tagmodel.check_token("write", tagmodel.INTERNAL, "r", "w") == "write"


def test_attribute_limits():
    with pytest.raises(tagmodel.InvalidAttribute):
        tagmodel.validate_attribute("a" * 1025, 2, "x")
    with pytest.raises(tagmodel.InvalidAttribute):
        tagmodel.validate_attribute("a", 5000, "x" * 4998)
    with pytest.raises(tagmodel.AttributeNotFound):
        tagmodel.validate_attribute("ddfs:other", 2, "x")


def test_placement():
    nodes = [Candidate(f"n{i}", 10 ** 7, 0) for i in range(4)]
    rng = random.Random(1)
    chosen = choose_nodes(nodes, 3, include=["n2"], exclude=["n0"], rng=rng)
    assert chosen[0] == "n2" and "n0" not in chosen and len(set(chosen)) == 3
    with pytest.raises(NotEnoughNodes):
        choose_nodes(nodes, 4, exclude=["n0"], rng=rng)
    weighted = choose_nodes(nodes, 2, space_aware=True, rng=rng)
    assert len(set(weighted)) == 2


def test_store_never_overwrites_and_hides_partials(tmp_path):
    rel = blobstore.write_object(str(tmp_path), "blob", "b$1-2-3", b"data")
    assert (tmp_path / rel).read_bytes() == b"data"
    with pytest.raises(blobstore.ObjectExists):
        blobstore.write_object(str(tmp_path), "blob", "b$1-2-3", b"other")
    partial = blobstore.PartialWrite(str(tmp_path), "blob", "c$1-2-3")
    partial.write(b"half")
    assert [o.objname for o in blobstore.list_objects(str(tmp_path))] == ["b$1-2-3"]
    assert blobstore.remove_stale_partials(str(tmp_path), grace=-1) == 1
