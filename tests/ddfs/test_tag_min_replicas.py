"""DDFS_TAG_MIN_REPLICAS (DISCO.md §6 "DDFS replication"): tag listings and tag reads are
refused while DDFS_TAG_MIN_REPLICAS or more nodes are unreachable, with Disco's replies:
`GET /ddfs/tags` -> 500 `Internal server error:too_many_failed_nodes`, a tag request that has
to read the tag from the nodes -> 500 `Internal server error: too_many_failed_nodes`. As in
Disco, a tag the master already holds (Disco: a live tag server) is still served.

`test_min_replicas_with_real_processes` runs a LocalCluster (a master and three node
processes, nodes killed with SIGKILL); the others use the in-process cluster (`mini`).
"""
from __future__ import annotations

import pytest

from disco.ddfs import DDFS
from disco.error import CommError
from disco.settings import DiscoSettings

from .conftest import client

pytestmark = pytest.mark.timeout(120)

LISTING_REFUSED = "Internal server error:too_many_failed_nodes"
TAG_REFUSED = "Internal server error: too_many_failed_nodes"
HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


def refused(call, text: str) -> None:
    """`call()` fails with Disco's 500 and exactly `text`."""
    with pytest.raises(CommError) as info:
        call()
    assert (info.value.code, info.value.args[0]) == (500, text), info.value


def restart_master(cluster) -> None:
    """A fresh in-process DDFS master over the same nodes (its tag cache is empty)."""
    cluster.call(cluster.runners["master"][0].cleanup())
    cluster.call(cluster._start_master())


def test_default_one_failed_node_refuses_listing_and_uncached_reads(mini):
    cluster = mini(nodes=3, DDFS_TAG_REPLICAS=3)
    ddfs = client(cluster)
    ddfs.tag("m:held", [["http://x/a"]])
    ddfs.tag("m:cold", [["http://x/b"]])
    restart_master(cluster)
    assert ddfs.urls("m:held") == [["http://x/a"]]      # loaded while every node is up
    cluster.kill(cluster.hosts[0])
    refused(ddfs.list, LISTING_REFUSED)
    assert ddfs.urls("m:held") == [["http://x/a"]]      # held by the master: served
    refused(lambda: ddfs.get("m:cold"), TAG_REFUSED)
    refused(lambda: ddfs.tag("m:cold", [["http://x/c"]]), TAG_REFUSED)
    refused(lambda: ddfs.setattr("m:cold", "k", "v"), TAG_REFUSED)
    refused(lambda: ddfs.delete("m:cold"), TAG_REFUSED)


def test_fewer_failed_nodes_than_the_minimum_are_tolerated(mini):
    cluster = mini(nodes=3, DDFS_TAG_REPLICAS=3, DDFS_TAG_MIN_REPLICAS=2)
    ddfs = client(cluster)
    ddfs.tag("m:a", [["http://x/a"]])
    ddfs.tag("m:b", [["http://x/b"]])
    restart_master(cluster)
    cluster.kill(cluster.hosts[0])
    assert ddfs.list() == ["m:a", "m:b"]
    assert ddfs.urls("m:a") == [["http://x/a"]]
    cluster.kill(cluster.hosts[1])
    refused(ddfs.list, LISTING_REFUSED)
    refused(lambda: ddfs.urls("m:b"), TAG_REFUSED)
    assert ddfs.urls("m:a") == [["http://x/a"]]


@pytest.mark.timeout(180)
@pytest.mark.process
def test_min_replicas_with_real_processes(cluster):
    local = cluster(hosts=HOSTS, workers=1,
                    settings={"DDFS_TAG_MIN_REPLICAS": 2, "DDFS_TAG_REPLICAS": 3,
                              "DISCO_NODE_RESTART_DELAY": 600, "DDFS_CONNECT_TIMEOUT": 1})
    ddfs = DDFS(settings=DiscoSettings(**local.env))
    ddfs.tag("r:held", [["http://x/a"]])
    ddfs.tag("r:cold", [["http://x/b"]])
    local.restart_master()                          # a master that holds no tag yet
    local.kill_node(HOSTS[0])
    local.wait_for_disconnect(HOSTS[0])
    assert ddfs.list() == ["r:cold", "r:held"]      # one failed node < 2
    assert ddfs.urls("r:held") == [["http://x/a"]]
    local.kill_node(HOSTS[1])
    local.wait_for_disconnect(HOSTS[1])
    refused(ddfs.list, LISTING_REFUSED)
    refused(lambda: ddfs.urls("r:cold"), TAG_REFUSED)
    assert ddfs.urls("r:held") == [["http://x/a"]]
