"""Static file serving for task outputs and DDFS blobs (server side, aiohttp).

Used by the master (for its co-located node) and by every node's DISCO_PORT server to answer
`GET`/`HEAD /disco/<path>` and `/ddfs/<path>`.  Files go out with `sendfile` (zero-copy) through
aiohttp's `FileResponse`, which also implements `Range` (206/416), `HEAD` and conditional
requests.  Only safe relative paths are served: no absolute paths, no `..`, no NUL bytes, and
the file a path resolves to must lie under the root: a symlink a worker leaves in its task
directory (say to the node's secret file) is refused with 403.  DDFS roots may have volume
links (`volume_links=True`): Disco lets DDFS volumes (`vol<N>`) be symlinks to other disks, so
under `root/vol<N>` the volume's own target is the limit.
"""
from __future__ import annotations

import logging
import os
import pathlib
import re
import stat
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


class _PlainFileResponse(web.FileResponse):
    """A FileResponse that never substitutes a `<file>.gz`/`<file>.br` sibling.

    aiohttp serves a pre-compressed sibling when the client accepts gzip/br; for task outputs and
    blobs that would be a different file (and break `Range` offsets and sizes), so it is turned off.
    """

    def _get_file_path_stat_encoding(
        self, accept_encoding: str
    ) -> tuple[Any, os.stat_result, None]:
        path: pathlib.Path = self._path
        st = path.stat()
        return (path if _is_regular(st) else None), st, None


def _is_regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)


def is_safe_relpath(relpath: str) -> bool:
    """True when `relpath` is a relative path that cannot leave its root."""
    if not relpath or "\x00" in relpath or relpath.startswith(("/", "\\")):
        return False
    return ".." not in relpath.split("/") and not os.path.isabs(relpath)


_VOLUME_RE = re.compile(r"^vol\d+$")


def resolves_inside(root: str, relpath: str, volume_links: bool = False) -> bool:
    """True when `root/relpath`, symlinks resolved, is still under `root` (or, for a DDFS
    root with `volume_links`, under the target of its `vol<N>` link)."""
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(root, relpath))
    if _under(target, real_root):
        return True
    first = relpath.split("/", 1)[0]
    if volume_links and _VOLUME_RE.match(first):
        return _under(target, os.path.realpath(os.path.join(root, first)))
    return False


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


async def serve_file(request: web.Request, root: str, relpath: str,
                     volume_links: bool = False) -> web.StreamResponse:
    """Answer GET/HEAD for `root/relpath` with Range support; 403 unsafe, 404 missing."""
    if not is_safe_relpath(relpath) or not resolves_inside(root, relpath, volume_links):
        log.info("refusing unsafe path %r under %s", relpath, root)
        return web.Response(status=403, text="Forbidden: unsafe path\n")
    path = pathlib.Path(root, relpath)
    # FileResponse stats the file in a thread and answers 404/403 itself (missing, directory,
    # permission); no extra stat here keeps the hot path at one stat + open + sendfile.
    return _PlainFileResponse(path)
