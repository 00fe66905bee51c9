"""DDFS master: `/ddfs/...` routes inside the master process (owned by the DDFS work)."""
from __future__ import annotations


def setup(app, settings, cluster) -> None:
    """Mount the DDFS master routes on the master's aiohttp app.

    `cluster` is the master's view of the nodes: `cluster.nodes()` returns objects with
    `host, connected, blacklisted, gc_blacklisted, disk_free, disk_used, get_url, put_url`.
    """
