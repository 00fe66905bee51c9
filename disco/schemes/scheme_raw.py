"""``raw://DATA``: the data is the URL text after ``raw://``.

Iterating yields **bytes** lines, like file and HTTP inputs (Disco gave ``str`` lines for
``raw://`` only, so a job mixing schemes compared str with bytes); decode in the job if
text is wanted.
"""
from __future__ import annotations

import io
from typing import Any

from disco.urls import schemesplit


def open(url: str, task: Any = None) -> io.BytesIO:
    return io.BytesIO(schemesplit(url)[1].encode("utf-8"))


def input_stream(fd: Any, size: Any, url: str, params: Any) -> tuple[io.BytesIO, int, str]:
    """A bytes stream of everything after ``raw://``."""
    stream = open(url)
    return stream, len(stream.getbuffer()), url
