"""``redis://HOST:PORT:DB``: every ``(key, value)`` of every list in a Redis database (as
Disco's scheme_redis). Needs the ``redis`` package on the nodes (``pip install redis``)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from disco.error import DataError, DiscoError
from disco.urls import schemesplit


def parse(url: str) -> tuple[str, int, int]:
    """``(host, port, db)`` of ``redis://host:port:db`` (port 6379 and db 0 by default)."""
    _scheme, rest = schemesplit(url)
    parts = rest.strip("/").split(":")
    try:
        host = parts[0] or "localhost"
        port = int(parts[1]) if len(parts) > 1 and parts[1] else 6379
        db = int(parts[2]) if len(parts) > 2 and parts[2] else 0
    except ValueError:
        raise DataError("expected redis://HOST:PORT:DB", url) from None
    return host, port, db


def client(url: str) -> Any:
    try:
        import redis
    except ImportError:
        raise DiscoError(f"{url}: redis:// inputs need the 'redis' package "
                         "(pip install redis) on every node") from None
    host, port, db = parse(url)
    return redis.Redis(host=host, port=port, db=db)


def records(connection: Any) -> Iterator[tuple[Any, Any]]:
    """``(key, value)`` for every value of every list key (SCAN + LRANGE)."""
    for key in connection.scan_iter():
        if connection.type(key) in (b"list", "list"):
            for value in connection.lrange(key, 0, -1):
                yield key, value


def open(url: str, task: Any = None) -> Iterator[tuple[Any, Any]]:
    return records(client(url))


def input_stream(fd: Any, size: Any, url: str, params: Any) -> tuple[Any, int, str]:
    """The (key, value) pairs of all Redis lists at ``url``."""
    return open(url), 0, url
