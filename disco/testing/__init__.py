"""Test helpers for Disco clusters (layer: top): real master and node processes on loopback.

* :class:`LocalCluster` -- start/stop a cluster, kill nodes, read its logs.
* :func:`poll_for` -- wait for a condition with a deadline (instead of sleeping).
* :func:`run_cli` -- run the `disco` command line in a subprocess.

The pytest fixtures built on these (`cluster`, `shared_cluster`, `single_node_cluster`)
live in the project's `tests/conftest.py`.
"""
from disco.testing.cluster import (DEFAULT_HOSTS, FAST_SETTINGS, ClusterError, LocalCluster,
                                   free_port, poll_for, run_cli)

__all__ = ["DEFAULT_HOSTS", "FAST_SETTINGS", "ClusterError", "LocalCluster", "free_port",
           "poll_for", "run_cli"]
