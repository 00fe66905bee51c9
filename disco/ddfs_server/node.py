"""DDFS node: blob and tag storage on a node (owned by the DDFS work)."""
from __future__ import annotations


def setup(get_app, put_app, settings, host: str, ddfs_data: str) -> None:
    """Mount DDFS node routes: GET/HEAD `/ddfs/...` on `get_app` (DISCO_PORT; None for a node
    co-located with the master, whose files the master serves) and uploads plus internal
    endpoints on `put_app` (DDFS_PUT_PORT)."""
