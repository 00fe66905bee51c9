"""``tag://`` inputs are expanded into blob URLs when the job is submitted
(:func:`disco.util.inputlist`); a task never opens a tag itself."""
from __future__ import annotations

from typing import Any

from disco.error import DiscoError


def _refuse(url: str) -> DiscoError:
    return DiscoError(f"Cannot open {url} in a task: tag:// inputs are expanded to their blob "
                      f"URLs at submit time (disco.util.inputlist); pass the tag as a job input "
                      f"or list its blobs with DDFS().blobs()")


def open(url: str, task: Any = None) -> Any:
    raise _refuse(url)


def input_stream(fd: Any, size: Any, url: str, params: Any) -> Any:
    raise _refuse(url)
