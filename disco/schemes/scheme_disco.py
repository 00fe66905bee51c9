"""``disco://HOST/...`` URLs: read locally when HOST is this task's host, else over HTTP
on ``DISCO_PORT``."""
from __future__ import annotations

from typing import Any

from disco import comm
from disco.schemes import current_task
from disco.urls import urljoin, urlsplit


def open(url: str, task: Any = None) -> Any:
    if task is not None:
        parts = urlsplit(
            url,
            localhost=task.host,
            disco_port=getattr(task, "disco_port", None) or getattr(task, "port", None),
            disco_data=task.disco_data,
            ddfs_data=task.ddfs_data,
        )
    else:
        parts = urlsplit(url)
    return comm.open_url(urljoin(parts))


def input_stream(fd: Any, size: Any, url: str, params: Any) -> tuple[Any, int, str]:
    """Opens the path on host locally if it is local, otherwise over http."""
    file = open(url, task=current_task(globals()))
    return file, len(file), file.url
