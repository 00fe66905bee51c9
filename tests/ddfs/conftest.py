from __future__ import annotations

import pytest

from disco.ddfs import DDFS
from disco.settings import DiscoSettings

from .minicluster import MiniCluster


@pytest.fixture
def mini(tmp_path):
    started = []

    def start(nodes: int = 3, **settings):
        cluster = MiniCluster(tmp_path, nodes, **settings).start()
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


def client(cluster: MiniCluster, **settings) -> DDFS:
    return DDFS(settings=DiscoSettings(DISCO_MASTER=cluster.master_url,
                                       DISCO_PORT=str(cluster.disco_port),
                                       DDFS_CONNECT_TIMEOUT="1", **settings))
