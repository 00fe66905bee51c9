"""``hdfs://NAMENODE:PORT/PATH``: read a file from HDFS over WebHDFS (as Disco).

The file is fetched from ``http://NAMENODE:PORT/webhdfs/v1/PATH?op=OPEN``; the name node's
redirect to a data node is followed. Iterating yields bytes lines, like other text inputs.
"""
from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from disco.error import DataError
from disco.urls import schemesplit

#: seconds to wait for the name node or a data node
TIMEOUT = 60


def webhdfs_url(url: str) -> str:
    """The WebHDFS OPEN URL of an ``hdfs://`` URL."""
    _scheme, rest = schemesplit(url)
    namenode, _, path = rest.partition("/")
    if not namenode or not path:
        raise DataError("expected hdfs://NAMENODE:PORT/PATH", url)
    return f"http://{namenode}/webhdfs/v1/{path}?op=OPEN"


def open(url: str, task: Any = None) -> Any:
    """The HTTP reply streaming the file (``.url`` is the hdfs:// URL; ``len()`` works)."""
    http_url = webhdfs_url(url)
    try:
        reply = urllib.request.urlopen(http_url, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        raise DataError(f"WebHDFS answered {e.code} for {http_url}", url, e.code) from None
    except OSError as e:
        raise DataError(f"cannot reach WebHDFS at {http_url}: {e}", url) from None
    return HdfsFile(reply, url)


class HdfsFile:
    """A streamed WebHDFS reply: ``read``, line iteration, ``len()``, ``close()``."""

    def __init__(self, reply: Any, url: str) -> None:
        self.reply = reply
        self.url = url
        self.size = int(reply.headers.get("Content-Length") or 0)

    def read(self, n: int = -1) -> bytes:
        return self.reply.read(n)

    def __iter__(self) -> Any:
        return iter(self.reply)

    def __len__(self) -> int:
        return self.size

    def close(self) -> None:
        self.reply.close()


def input_stream(fd: Any, size: Any, url: str, params: Any) -> tuple[Any, int, str]:
    """Opens an hdfs:// URL through WebHDFS."""
    file = open(url)
    return file, len(file), url
