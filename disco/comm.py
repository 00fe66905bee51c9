"""HTTP and file access for clients and workers (stdlib ``http.client`` only; kept light
because every worker imports it).

* :func:`request` -- one HTTP request with Disco's retry policy: a connection error or a
  503 reply is retried (up to ``MAX_RETRIES`` times, with short, bounded, jittered
  delays); redirects are followed; any other non-2xx reply raises
  :class:`~disco.error.CommError` carrying the status and the reply body.
* :func:`download` / :func:`upload` -- whole-body GET/POST and PUT helpers.
* :func:`open_url` -- a readable, seekable binary file for a local path / ``file://`` URL
  (:func:`open_local`) or a remote URL (:func:`open_remote`); both support ``len()``,
  ``.url``, ``read``, ``readline``, ``seek``/``tell`` and iterate over **bytes** lines.
  A remote file is streamed in large blocks; a dropped connection resumes with a ``Range``
  request from the current offset.
"""
from __future__ import annotations

import base64
import http.client
import io
import logging
import os
import random
import time
from typing import IO, Any, Iterable, Iterator, Mapping

from disco import auth, tls
from disco.error import CommError
from disco.urls import schemesplit, urlresolve, urlsplit

log = logging.getLogger(__name__)

BUFFER_SIZE = 1024 ** 2
CHUNK_SIZE = 10 * 1024 ** 2
#: retries after a connection error or a 503 reply
MAX_RETRIES = 9
#: retry delay: uniform(0, min(RETRY_BASE * 2**attempt, RETRY_CAP)) seconds
RETRY_BASE = 0.1
RETRY_CAP = 2.0
#: socket timeout of each connection attempt and read, seconds
TIMEOUT = 120.0
MAX_REDIRECTS = 10


def isredirection(status: int) -> bool:
    return 300 <= status < 400


def issuccessful(status: int) -> bool:
    return 200 <= status < 300


def isunavailable(status: int | None) -> bool:
    return status == http.client.SERVICE_UNAVAILABLE


def range_header(offset: Any) -> dict[str, str]:
    """``Range: bytes=start-[end]`` for an offset or a ``(start, end)`` pair; {} for none."""
    if not offset:
        return {}
    if isinstance(offset, (tuple, list)):
        start, end = offset[0], (offset[1] if len(offset) > 1 else "")
    else:
        start, end = offset, ""
    return {"Range": f"bytes={start}-{end}"}


def auth_header(token: str | None) -> dict[str, str]:
    """DDFS token as ``Authorization: Basic base64("token:<token>")``."""
    if token is None:
        return {}
    credentials = base64.b64encode(f"token:{token}".encode("utf-8")).decode("ascii")
    return {"Authorization": f"Basic {credentials}"}


def resolveuri(baseuri: str, uri: str) -> str:
    """Resolve a redirect ``Location`` against the URL that was requested."""
    if "://" in uri:
        return uri
    scheme, loc, _path = urlsplit(baseuri)
    if uri.startswith("/"):
        return f"{scheme}://{loc}{uri}"
    return f"{baseuri.rsplit('/', 1)[0]}/{uri}"


def retry_delay(attempt: int) -> float:
    """Seconds to sleep before retry number ``attempt`` (0-based); never above RETRY_CAP."""
    return random.uniform(0, min(RETRY_BASE * 2 ** attempt, RETRY_CAP))


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    scheme, loc, path = urlsplit(url)
    if scheme not in ("http", "https"):
        raise CommError(f"unsupported URL scheme {scheme!r} for HTTP", url)
    if scheme == "https":
        return (http.client.HTTPSConnection(str(loc), timeout=timeout,
                                            context=tls.client_context()), f"/{path}")
    return http.client.HTTPConnection(str(loc), timeout=timeout), f"/{path}"


def _attempt(method: str, url: str, data: Any, headers: Mapping[str, str],
             timeout: float) -> tuple[http.client.HTTPResponse | None, int | None, str]:
    """One request; ``(response, status, error text)``, response None on connection error."""
    try:
        conn, path = _connection(url, timeout)
        conn.request(method, path, body=data, headers=auth.client_headers(url, headers))
        response = conn.getresponse()
        return response, response.status, response.reason
    except (http.client.HTTPException, OSError) as e:
        return None, None, str(e) or repr(e)


def request(method: str, url: str, data: Any = None, headers: Mapping[str, str] | None = None,
            sleep: int = 0, retries: int = MAX_RETRIES,
            timeout: float = TIMEOUT) -> http.client.HTTPResponse:
    """Send a request and return the (unread) 2xx response; see the module docstring."""
    target = urlresolve(url)
    headers = dict(headers or {})
    attempt, redirects = sleep, 0
    while True:
        response, status, error = _attempt(method, target, data, headers, timeout)
        if response is None or isunavailable(status):
            if response is not None:
                error = _body_text(response) or error
            if attempt >= retries:
                raise CommError(error, url, status)
            log.debug("%s %s: %s; retry %d", method, target, error, attempt + 1)
            time.sleep(retry_delay(attempt))
            attempt += 1
            continue
        assert status is not None
        if isredirection(status) and response.getheader("location"):
            redirects += 1
            if redirects > MAX_REDIRECTS:
                raise CommError("too many redirects", url, status)
            target = resolveuri(target, response.getheader("location", ""))
            response.close()
            continue
        if not issuccessful(status):
            raise CommError(_body_text(response), url, status)
        return response


def _body_text(response: http.client.HTTPResponse) -> str:
    try:
        return response.read().decode("utf-8", "replace")
    except (http.client.HTTPException, OSError) as e:
        return str(e)


def download(url: str, method: str = "GET", data: Any = None, offset: Any = (),
             token: str | None = None, sleep: int = 0) -> bytes:
    """The body of ``url`` (POST when ``data`` is given), optionally from ``offset``."""
    headers = range_header(offset)
    headers.update(auth_header(token))
    response = request(method if data is None else "POST", url, data=data,
                       headers=headers, sleep=sleep)
    try:
        return response.read()
    finally:
        response.close()


def upload(urls: Iterable[str], source: Any, token: str | None = None,
           **kwargs: Any) -> list[bytes]:
    """PUT ``source`` (a path, bytes or a readable file) to every URL; their reply bodies."""
    data = FileSource(source).read()
    headers = auth_header(token)
    replies = []
    for url in urls:
        response = request("PUT", url, data=data, headers=headers)
        try:
            replies.append(response.read())
        finally:
            response.close()
    return replies


class FileSource:
    """The bytes of an upload source: a path, bytes/str, or an open file."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def read(self) -> bytes:
        source = self.source
        if hasattr(source, "read"):
            data = source.read()
            return data.encode("utf-8") if isinstance(data, str) else data
        if isinstance(source, (bytes, bytearray, memoryview)):
            return bytes(source)
        with open(source, "rb") as f:
            return f.read()

    def __len__(self) -> int:
        return len(self.read())


# --- files -----------------------------------------------------------------------------

def open_url(url: str, *args: Any, **kwargs: Any) -> IO[bytes]:
    """A binary file for a local path / ``file://`` URL or a remote (http/disco/...) URL."""
    scheme, rest = schemesplit(url)
    if not scheme or scheme == "file":
        return open_local(rest, url, *args, **kwargs)
    return open_remote(url, *args, **kwargs)


def open_local(path: str, url: str | None = None) -> "File":
    """Open a local file for reading (large buffered reads)."""
    return File(path, url)


def open_remote(url: str, token: str | None = None) -> "Connection":
    """Open a remote URL as a streaming, resumable, seekable file (errors raise here)."""
    return Connection(urlresolve(url), token)


class File(io.FileIO):
    """A local file with ``len()`` and ``url``.

    An :class:`io.FileIO`, as Disco's ``File`` is (jobs check ``isinstance(fd,
    disco.compat.file)``), whose reads and line iteration go through one large
    :class:`io.BufferedReader` on the same descriptor.
    """

    def __init__(self, path: str, url: str | None = None, buffer_size: int = BUFFER_SIZE) -> None:
        super().__init__(path, "r")
        self.path = path
        self.url = url or f"file://{path}"
        self._buffer = io.BufferedReader(io.FileIO(self.fileno(), "r", closefd=False),
                                         buffer_size)

    def __len__(self) -> int:
        return os.fstat(self.fileno()).st_size

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._buffer)

    def __next__(self) -> bytes:
        return next(self._buffer)

    def read(self, size: int | None = -1) -> bytes:
        return self._buffer.read(size)

    def readall(self) -> bytes:
        return self._buffer.read()

    def readinto(self, buffer: Any) -> int:
        return self._buffer.readinto(buffer)

    def readline(self, size: int | None = -1) -> bytes:
        return self._buffer.readline(size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return self._buffer.readlines(hint)

    def peek(self, size: int = 0) -> bytes:
        return self._buffer.peek(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._buffer.seek(offset, whence)

    def tell(self) -> int:
        return self._buffer.tell()

    def close(self) -> None:
        if not self.closed:
            self._buffer.close()
        super().close()


class _RemoteRaw(io.RawIOBase):
    """Raw reader over an HTTP GET; reconnects with ``Range`` after errors or seeks."""

    def __init__(self, url: str, token: str | None, retries: int = MAX_RETRIES) -> None:
        super().__init__()
        self.url, self.token, self.retries = url, token, retries
        self.pos = 0
        self.length: int | None = None
        self._response: http.client.HTTPResponse | None = None
        self._open()

    def _open(self) -> None:
        headers = auth_header(self.token)
        headers.update(range_header(self.pos))
        response = request("GET", self.url, headers=headers)
        self._set_length(response)
        if self.pos and response.status == 200:
            self._skip(response, self.pos)  # server ignored Range
        self._response = response

    def _set_length(self, response: http.client.HTTPResponse) -> None:
        content_range = response.getheader("content-range")
        if content_range and "/" in content_range and not content_range.endswith("*"):
            self.length = int(content_range.rsplit("/", 1)[1])
        elif response.status == 200 and response.getheader("content-length") is not None:
            self.length = int(response.getheader("content-length", "0"))

    @staticmethod
    def _skip(response: http.client.HTTPResponse, count: int) -> None:
        while count > 0:
            skipped = len(response.read(min(count, BUFFER_SIZE)))
            if not skipped:
                break
            count -= skipped

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.length is not None and self.pos >= self.length:
            return 0
        for attempt in range(self.retries + 1):
            try:
                if self._response is None:
                    self._open()
                assert self._response is not None
                count = self._response.readinto(buffer)
                if count == 0 and self.length is not None and self.pos < self.length:
                    raise http.client.IncompleteRead(b"", self.length - self.pos)
                self.pos += count
                return count
            except (http.client.HTTPException, OSError) as e:
                self._drop_response()
                if attempt >= self.retries:
                    raise CommError(f"reading failed at byte {self.pos}: {e}", self.url) from None
                log.debug("%s: read error at %d (%s); resuming", self.url, self.pos, e)
                time.sleep(retry_delay(attempt))
        return 0

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            pos += self.pos
        elif whence == io.SEEK_END:
            pos += self.length or 0
        if pos != self.pos:
            self._drop_response()
            self.pos = max(0, pos)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def _drop_response(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None

    def close(self) -> None:
        self._drop_response()
        super().close()


class Connection(io.BufferedReader):
    """A remote file: streamed, resumable, seekable; ``len()`` from the reply headers."""

    def __init__(self, url: str, token: str | None = None,
                 buffer_size: int = BUFFER_SIZE) -> None:
        self._raw_remote = _RemoteRaw(url, token)
        super().__init__(self._raw_remote, buffer_size)
        self.url = url
        self.token = token

    def __len__(self) -> int:
        return self._raw_remote.length or 0
