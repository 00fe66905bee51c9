"""``https://`` URLs: as :mod:`disco.schemes.scheme_http`."""
from __future__ import annotations

from disco.schemes.scheme_http import input_stream, open

__all__ = ["input_stream", "open"]
