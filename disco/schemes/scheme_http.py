"""``http://`` URLs: a streamed, resumable HTTP download; iterating yields bytes lines."""
from __future__ import annotations

from typing import Any

from disco import comm


def open(url: str, task: Any = None) -> Any:
    return comm.open_url(url)


def input_stream(fd: Any, size: Any, url: str, params: Any) -> tuple[Any, int, str]:
    """Opens the specified url using an http client."""
    file = open(url)
    return file, len(file), file.url
