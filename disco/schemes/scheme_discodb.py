"""``discodb://PATH!METHOD/ARG``: query a local DiscoDB file (as Disco's scheme_discodb).
Needs the ``discodb`` package on the nodes; METHOD is ``keys``, ``values``, ``items``,
``query`` (ARG a query) or ``get`` (ARG a key); no METHOD iterates the items."""
from __future__ import annotations

import builtins
from typing import Any

from disco.error import DataError, DiscoError
from disco.urls import schemesplit


def parse(url: str) -> tuple[str, str, str]:
    """``(path, method, arg)`` of a discodb:// URL."""
    _scheme, rest = schemesplit(url)
    path, _, query = rest.partition("!")
    method, _, arg = query.partition("/")
    if not path:
        raise DataError("expected discodb://PATH!METHOD/ARG", url)
    return path, method or "items", arg


def open(url: str, task: Any = None) -> Any:
    try:
        import discodb
    except ImportError:
        raise DiscoError(f"{url}: discodb:// inputs need the 'discodb' package") from None
    path, method, arg = parse(url)
    with builtins.open(path, "rb") as f:
        db = discodb.DiscoDB.load(f)
    if method == "query":
        return db.query(discodb.Q.parse(arg))
    if method == "get":
        return db.get(arg)
    return getattr(db, method)()


def input_stream(fd: Any, size: Any, url: str, params: Any) -> tuple[Any, int, str]:
    """The entries of a DiscoDB query."""
    return open(url), 0, url
