"""Status web UI served by the master at `/` (owned by the web UI work)."""
from __future__ import annotations


def setup(app, settings, master) -> None:
    """Mount the UI pages and static files on the master's aiohttp app."""
