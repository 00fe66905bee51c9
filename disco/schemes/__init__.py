"""Input streams for URL schemes (worker side).

An input URL ``scheme://...`` is opened by ``disco.schemes.scheme_<scheme>`` (``file`` when
there is no scheme): its ``input_stream(fd, size, url, params)`` returns ``(file, size,
url)`` and, where it makes sense, its ``open(url, task=None)`` returns a readable file.

Text inputs (files, HTTP, ``disco://``) iterate as **bytes** lines; ``raw://`` inputs iterate
as **str** lines, as in Disco.
"""
from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType
from typing import Any, Iterator

from disco.error import DiscoError
from disco.fileutils import read_records
from disco.urls import schemesplit
from disco.util import globalize

log = logging.getLogger(__name__)


def import_scheme(url: str) -> ModuleType:
    """The module handling ``url``'s scheme."""
    scheme = schemesplit(url)[0] or "file"
    name = f"disco.schemes.scheme_{scheme}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        raise DiscoError(f"Unsupported input URL scheme {scheme!r} in {url!r}: "
                         f"no module {name}") from None


def current_task(scope: dict[str, Any] | None = None) -> Any:
    """The running task: ``Task`` injected into ``scope`` or the worker's ``active_task``."""
    task = (scope or {}).get("Task")
    if task is None:
        task = getattr(sys.modules.get("disco.worker"), "active_task", None)
    return task


def input_stream(stream: Any, size: Any, url: str, params: Any,
                 globals: dict[str, Any] | None = None) -> Any:
    """Open ``url`` with its scheme's ``input_stream`` (``globals`` are injected into it)."""
    function = import_scheme(url).input_stream
    if not globals:
        return function(stream, size, url, params)
    # Injected only for this call: a scheme module outlives the task (the client process,
    # a test process), and a stale `Task` would send later reads to the wrong host and port.
    scope = function.__globals__
    saved = {name: scope[name] for name in globals if name in scope}
    globalize(function, globals)
    try:
        return function(stream, size, url, params)
    finally:
        for name in globals:
            scope.pop(name, None)
        scope.update(saved)


def open(url: str, task: Any = None) -> Any:
    """A readable file for ``url`` (local when the task's host holds it)."""
    return import_scheme(url).open(url, task=task)


def open_chain(url: str, task: Any = None) -> Iterator[Any]:
    """The records of a Disco-format file at ``url`` (opened now, closed when exhausted)."""
    stream = open(url, task=task)
    return _records_then_close(stream, url)


def _records_then_close(stream: Any, url: str) -> Iterator[Any]:
    try:
        yield from read_records(stream, len(stream) if hasattr(stream, "__len__") else None, url)
    finally:
        stream.close()
