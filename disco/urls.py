"""URL helpers shared by :mod:`disco.util` and the DDFS client (layer 0).

Disco's URL forms:

* ``disco://HOST/disco/HOST/<hh>/<job>/<relpath>`` -- a task output file, served at
  ``http://HOST:DISCO_PORT/disco/...``, stored at ``DISCO_DATA/HOST/<hh>/<job>/<relpath>``;
* ``disco://HOST/ddfs/vol0/blob/<hh>/<name>$<ts>`` -- a DDFS blob (``DDFS_DATA/vol0/...``);
* ``dir://HOST/disco/HOST/<hh>/<job>/.disco/<file>.results`` -- an index file, lines
  ``<label> <url> <size>``;
* ``tag://NAME``, ``tag://HOST/NAME``, ``tag://user:TOKEN@/NAME`` -- a DDFS tag;
* ``raw://DATA``, ``http(s)://...``, ``file:///abs/path`` or a bare path.

``<hh>`` is :func:`hexhash` of the job name. Unlike Disco, ``file:///abs/path`` and bare
absolute paths keep their leading slash through :func:`urlsplit`.
"""
from __future__ import annotations

import hashlib
import logging
import os
from typing import Any

from disco.error import DiscoError
from disco.settings import DiscoSettings

try:  # CPython's own md5: OpenSSL's costs a forked task ~0.1 ms (page faults) on first use
    from _md5 import md5 as _md5
except ImportError:  # pragma: no cover - a build without it
    _md5 = hashlib.md5

log = logging.getLogger(__name__)


class netloc(tuple):
    """``(host, port)`` of a URL; ports are strings ('' when absent), as in Disco."""

    @classmethod
    def parse(cls, netlocstr: str) -> "netloc":
        if "@" in netlocstr:
            netlocstr = netlocstr.split("@", 1)[1]
        if ":" in netlocstr:
            host, port = netlocstr.rsplit(":", 1)
            return cls((host, port))
        return cls((netlocstr, ""))

    @property
    def host(self) -> str:
        return self[0]

    @property
    def port(self) -> str:
        return self[1]

    def __bool__(self) -> bool:
        return bool(self[0])

    def __str__(self) -> str:
        host, port = self
        return f"{host}:{port}" if port else host


def schemesplit(url: str | bytes) -> tuple[str, str]:
    """``('http', 'host/path')`` for ``http://host/path``; ``('', url)`` without a scheme.

    Bytes are decoded first, as in Disco: jobs split URLs read from bytes input lines."""
    if isinstance(url, (bytes, bytearray)):
        url = bytes(url).decode("utf-8")
    if "://" in url:
        scheme, rest = url.split("://", 1)
        return scheme, rest
    return "", url


def hexhash(data: bytes | str) -> str:
    """First byte of the md5 of ``data`` as two lowercase hex digits (Disco's ``<hh>``)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _md5(data).hexdigest()[:2]


def localize(path: str, ddfs_data: str | None = None, disco_data: str | None = None) -> str:
    """Map a served path (``ddfs/...`` or ``disco/...``) to the local file under the data dirs."""
    prefix, _, fname = path.partition("/")
    if prefix == "ddfs":
        return os.path.join(ddfs_data or "", fname)
    return os.path.join(disco_data or "", fname)


def _default_disco_port() -> str:
    return str(DiscoSettings()["DISCO_PORT"])


def urlsplit(url: str, localhost: Any = None, disco_port: Any = None,
             ddfs_data: str | None = None, disco_data: str | None = None
             ) -> tuple[str, netloc, str]:
    """Split ``url`` into ``(scheme, netloc, path)``, resolving Disco's own URLs.

    A ``disco://`` URL (or one on ``DISCO_PORT``) of host ``localhost`` (or any host when
    ``localhost is True``) becomes ``('file', netloc(('', '')), <local path>)``; one on
    another host becomes ``http://host:DISCO_PORT``. ``tag://name`` has an empty netloc.
    ``file:///abs`` and bare paths keep the whole path.
    """
    scheme, rest = schemesplit(url)
    if scheme in ("", "file"):
        return scheme, netloc(("", "")), rest
    locstr, _, path = rest.partition("/")
    if scheme == "tag":
        if not path:
            path, locstr = locstr, ""
        return scheme, netloc.parse(locstr), path
    host, port = netloc.parse(locstr)
    if scheme == "disco" or (port and port == _port_str(disco_port)):
        port_text = _port_str(disco_port)
        if localhost is True or (localhost and localhost in (locstr, host)):
            return "file", netloc(("", "")), localize(path, ddfs_data, disco_data)
        if scheme == "disco":
            scheme, locstr = data_scheme(), f"{host}:{port_text}"
    return scheme, netloc.parse(locstr), path


def data_scheme() -> str:
    """``https`` when this process talks to a TLS cluster (``DISCO_MASTER`` is https, or
    ``DISCO_TLS_CERT`` is set: docs/security.md), else ``http``; read from the environment
    (nodes give their workers ``DISCO_MASTER``), not the settings file, to stay cheap."""
    master = os.environ.get("DISCO_MASTER", "")
    return "https" if master.startswith("https:") or os.environ.get("DISCO_TLS_CERT") else "http"


def _port_str(disco_port: Any) -> str:
    return str(disco_port) if disco_port else _default_disco_port()


def urljoin(scheme_netloc_path: tuple[str, Any, str]) -> str:
    """Inverse of :func:`urlsplit`."""
    scheme, loc, path = scheme_netloc_path
    loc = str(loc) if loc else ""
    prefix = f"{scheme}://" if scheme else ""
    if not loc:
        return f"{prefix}{path}"
    return f"{prefix}{loc}/{path}" if path else f"{prefix}{loc}"


def checked_master(master: str) -> str:
    """``master`` if it is a URL (``http://host:port``); else a :class:`DiscoError`."""
    if "://" not in str(master):
        raise DiscoError(f"Invalid master URL {master!r}: expected scheme://host:port, "
                         "e.g. http://localhost:8989")
    return master


def urlresolve(url: str, master: str | None = None) -> str:
    """An http(s) URL for ``url``: ``dir://`` and ``tag://`` go through the master.

    ``tag://x`` -> ``<master>/ddfs/tag/x``; a host without a port -> ``disco://host``
    (which :func:`urlsplit` turns into ``http://host:DISCO_PORT``).
    """
    scheme, loc, path = urlsplit(url)

    def base(location: netloc) -> str:
        host, port = location
        if not host:
            return checked_master(master or DiscoSettings()["DISCO_MASTER"])
        if not port:
            return f"disco://{host}"
        return f"http://{host}:{port}"

    if scheme == "dir":
        return urlresolve(f"{base(loc)}/{path}", master)
    if scheme == "tag":
        return urlresolve(f"{base(loc)}/ddfs/tag/{path}", master)
    if scheme in ("", "file"):
        return url
    return f"{scheme}://{loc}/{path}"


def urltoken(url: str) -> str | None:
    """The DDFS token in ``scheme://user:TOKEN@host/...`` (or ``TOKEN@``), else None."""
    _scheme, rest = schemesplit(url)
    locstr = rest.split("/", 1)[0]
    if "@" not in locstr:
        return None
    auth = locstr.split("@", 1)[0]
    return auth.split(":", 1)[1] if ":" in auth else auth


# --- Disco's data layout ---------------------------------------------------------------

def job_path(host: str, jobname: str) -> str:
    """``HOST/<hh>/<job>``: a job's directory relative to ``DISCO_DATA``."""
    return f"{host}/{hexhash(jobname)}/{jobname}"


def disco_url(host: str, jobname: str, relpath: str) -> str:
    """``disco://HOST/disco/HOST/<hh>/<job>/<relpath>`` for a file in a job's home on HOST."""
    return f"disco://{host}/disco/{job_path(host, jobname)}/{relpath}"


def dir_url(host: str, jobname: str, relpath: str) -> str:
    """``dir://HOST/disco/HOST/<hh>/<job>/<relpath>`` for an index file in a job's home."""
    return f"dir://{host}/disco/{job_path(host, jobname)}/{relpath}"


def ddfs_blob_url(host: str, blobname: str, volume: str = "vol0") -> str:
    """``disco://HOST/ddfs/<volume>/blob/<hh>/<blobname>`` (blob name includes ``$<ts>``)."""
    return f"disco://{host}/ddfs/{volume}/blob/{hexhash(blobname)}/{blobname}"


# --- index files -------------------------------------------------------------------------

def format_index_line(label: int, url: str, size: int) -> str:
    """One index-file line ``<label> <url> <size>\\n`` (newlines in the URL escaped)."""
    safe = url.replace("\r", "%0D").replace("\n", "%0A")
    return f"{int(label)} {safe} {int(size)}\n"


def parse_index_line(line: bytes | str) -> tuple[int, str, int]:
    """Parse ``<label> <url> <size>``; the URL may itself contain spaces."""
    if isinstance(line, bytes):
        line = line.decode("utf-8")
    text = line.strip()
    try:
        label, rest = text.split(None, 1)
        url, size = rest.rsplit(None, 1)
        return int(label), url.strip(), int(size)
    except ValueError:
        raise ValueError(f"invalid index line {line!r}: expected '<label> <url> <size>'") from None
