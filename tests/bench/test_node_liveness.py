"""The master's node liveness check under load (bench.scale's 100 simulated nodes on 2 cores
lost links whose status messages or PONGs were merely late)."""
from __future__ import annotations

from dataclasses import dataclass, field

from disco.master.link import check_links


@dataclass
class Peer:
    last_ping: float = 0.0
    pings: list = field(default_factory=list)

    def ping(self, now: float) -> None:
        self.last_ping = now
        self.pings.append(now)


@dataclass
class Node:
    host: str
    last_seen: float
    link: Peer = field(default_factory=Peer)


def test_silent_node_is_pinged_once_per_heartbeat_before_it_counts_as_lost():
    node = Node("a", last_seen=100.0)
    assert check_links([node], 100.4, heartbeat=0.5, timeout=5, stalled=0) == []
    assert node.link.pings == []
    assert check_links([node], 100.6, heartbeat=0.5, timeout=5, stalled=0) == []
    assert check_links([node], 100.7, heartbeat=0.5, timeout=5, stalled=0) == []
    assert node.link.pings == [100.6]
    assert check_links([node], 105.2, heartbeat=0.5, timeout=5, stalled=0) == [node.link]


def test_a_stalled_master_does_not_count_its_stall_as_the_nodes_silence():
    node = Node("a", last_seen=100.0)
    # the master's loop did not run for 6 s: the node's frames wait unread in the socket
    assert check_links([node], 106.5, heartbeat=0.5, timeout=5, stalled=6.0) == []
    assert node.last_seen == 106.0


def test_disconnected_or_never_seen_nodes_are_skipped():
    gone = Node("a", last_seen=1.0)
    gone.link = None
    fresh = Node("b", last_seen=0.0)
    assert check_links([gone, fresh], 1000.0, heartbeat=0.5, timeout=5, stalled=0) == []
