"""Fixtures of the real-hosts tests: `netns_cluster`, a factory of `NetnsCluster`s.

Skips (with the reason) where network namespaces, veth pairs or sshd are not available.
"""
from __future__ import annotations

import pytest

from disco.testing.netns import NetnsCluster, unavailable


@pytest.fixture(scope="session")
def netns_reason():
    return unavailable()


@pytest.fixture
def netns_cluster(tmp_path, request, netns_reason):
    """Factory: `netns_cluster(nodes=3, workers=2, settings=None, disk_mb=None)`."""
    if netns_reason:
        pytest.skip(f"namespace hosts cannot be made here: {netns_reason}")
    started: list[NetnsCluster] = []

    def start(**kwargs) -> NetnsCluster:
        cluster = NetnsCluster(tmp_path / f"hosts{len(started)}", **kwargs)
        started.append(cluster)
        cluster.start()
        return cluster

    yield start
    failed = getattr(request.node, "rep_call", None)
    for cluster in started:
        if failed is None or failed.failed:
            print(f"\nnamespace cluster logs:\n{cluster.logs()}")
        cluster.stop()
