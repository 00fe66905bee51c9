"""``raw://DATA``: the data is the URL text after ``raw://``.

Iterating yields **str** lines, as in Disco (its ``scheme_raw`` opens a ``StringIO``), while
file, HTTP and ``disco://`` inputs yield bytes lines: Disco's own tests and jobs rely on
``raw://`` text being ``str`` (``'raw://' + line``, ``Task.put(line, ...)``).
"""
from __future__ import annotations

import io
from typing import Any

from disco.urls import schemesplit


def open(url: str, task: Any = None) -> io.StringIO:
    return io.StringIO(schemesplit(url)[1])


def input_stream(fd: Any, size: Any, url: str, params: Any) -> tuple[io.StringIO, int, str]:
    """A text stream of everything after ``raw://``."""
    text = schemesplit(url)[1]
    return io.StringIO(text), len(text), url
