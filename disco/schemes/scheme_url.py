"""``url://X``: the input is the URL string itself (one ``str`` entry, as in Disco)."""
from __future__ import annotations

import io
from typing import Any


def input_stream(fd: Any, size: Any, url: str, params: Any) -> tuple[io.StringIO, int, str]:
    return io.StringIO(url), len(url), url
