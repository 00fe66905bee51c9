"""
:mod:`disco.ddfs` -- Client interface for the Disco Distributed Filesystem.

Tags can be given as names or ``tag://`` URLs (``tag://user:TOKEN@/name`` carries a token).
Reads fall back to the next replica when one is unreachable, with a short connect timeout
(``DDFS_CONNECT_TIMEOUT`` seconds) so dead nodes cost little.  This module must not import
:mod:`disco.util` (util imports it for ``tag://`` input expansion).
"""
from __future__ import annotations

import contextlib
import gzip
import http.client
import inspect
import io
import json
import logging
import os
import random
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
from typing import Any, BinaryIO, Callable, Iterable, Iterator

from disco import fileutils
from disco import auth, tls
from disco.comm import auth_header
from disco.error import CommError, InvalidTag
from disco.settings import DiscoSettings
from disco.urls import urlsplit, urltoken

log = logging.getLogger(__name__)
unsafe_re = re.compile(r"[^A-Za-z0-9_\-@:]")
CHUNK_SIZE = 64 * 1024 * 1024
MAX_RECORD_SIZE = 1024 * 1024
COPY_BUFFER = 1 << 20
#: files `DDFS.push` uploads at the same time
PUSH_PARALLEL = 3


# -- tag names ----------------------------------------------------------------------------
def _isiterable(obj: Any) -> bool:
    return hasattr(obj, "__iter__") and not isinstance(obj, (str, bytes))


def canonizetag(tag: Any) -> str:
    if tag:
        if _isiterable(tag):
            for first in tag:
                return canonizetag(first)
        elif tag.startswith("tag://"):
            return tag
        elif "://" not in tag and "/" not in tag:
            return f"tag://{tag}"
    raise InvalidTag(f"Invalid tag: {tag}")


def canonizetags(tags: Any) -> list[str]:
    return [canonizetag(t) for t in (tags if _isiterable(tags) else [tags])]


def istag(tag: Any) -> str | None:
    try:
        return canonizetag(tag)
    except InvalidTag:
        return None


def _split_tag(tag: Any) -> tuple[str, str]:
    """``tag://[netloc/]name`` -> (netloc, name)."""
    rest = canonizetag(tag)[len("tag://"):]
    netloc, sep, name = rest.partition("/")
    return (netloc, name) if sep else ("", netloc)


def tagname(tag: Any) -> str:
    return _split_tag(tag)[1]


def relativizetag(tag: Any, parent: Any) -> str:
    netloc, name = _split_tag(tag)
    parentloc, _ = _split_tag(parent)
    loc = netloc or parentloc
    return f"tag://{loc}/{name}" if loc else f"tag://{name}"


def relativizetags(tags: Any, parent: Any) -> list[str]:
    return [relativizetag(t, parent) for t in (tags if _isiterable(tags) else [tags])]


# -- HTTP ---------------------------------------------------------------------------------
class _Http:
    """Small HTTP client: separate connect and read timeouts, retries only on 503."""

    def __init__(self, connect_timeout: float, read_timeout: float, retries: int) -> None:
        self.connect_timeout, self.read_timeout, self.retries = (connect_timeout, read_timeout,
                                                                 retries)

    def open(self, method: str, url: str, body: Any = None, headers: dict | None = None,
             length: int | None = None) -> http.client.HTTPResponse:
        for attempt in range(self.retries + 1):
            resp = self._open_once(method, url, body, headers or {}, length)
            if resp.status != 503 or attempt == self.retries or _unrewindable(body):
                return resp
            resp.read()
            _rewind(body)
            time.sleep(min(2 ** attempt, 10) * random.random() * 0.5)
        raise AssertionError("unreachable")

    def _open_once(self, method: str, url: str, body: Any, headers: dict,
                   length: int | None) -> http.client.HTTPResponse:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=self.connect_timeout,
                context=tls.client_context())
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port,
                                              timeout=self.connect_timeout)
        headers = auth.client_headers(url, headers)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.connect()
            conn.sock.settimeout(self.read_timeout)
            conn.putrequest(method, urllib.parse.quote(path, safe="/?=&$:@,%+"))
            for key, value in headers.items():
                conn.putheader(key, value)
            if body is None:
                conn.putheader("Content-Length", "0")
                conn.endheaders()
            elif isinstance(body, bytes):
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
            else:
                conn.putheader("Content-Length", str(length))
                conn.endheaders()
                _send_stream(conn, body)
            return conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise CommError(f"{exc.__class__.__name__}: {exc}", url) from exc


def _unrewindable(body: Any) -> bool:
    return body is not None and not isinstance(body, bytes) and not hasattr(body, "seek")


def _rewind(body: Any) -> None:
    if body is not None and not isinstance(body, bytes):
        body.seek(0)


def _send_stream(conn: http.client.HTTPConnection, body: BinaryIO) -> None:
    if not isinstance(conn, http.client.HTTPSConnection) and _is_regular_file(body):
        conn.sock.sendfile(body)  # the kernel copies file to socket: no Python-level copies
        return
    while True:
        chunk = body.read(COPY_BUFFER)
        if not chunk:
            return
        conn.send(chunk)


def _is_regular_file(body: Any) -> bool:
    try:
        return os.path.isfile(f"/proc/self/fd/{body.fileno()}") and body.tell() == 0
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


class RemoteFile(io.RawIOBase):
    """A readable remote blob (what :meth:`DDFS.pull` yields); ``url`` names the replica."""

    def __init__(self, url: str, response: http.client.HTTPResponse) -> None:
        super().__init__()
        self.url, self._resp = url, response
        self.size = int(response.getheader("Content-Length") or -1)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._resp.readinto(buffer)

    def __len__(self) -> int:
        return self.size

    def close(self) -> None:
        self._resp.close()
        super().close()


# -- the client ---------------------------------------------------------------------------
class DDFS:
    """Opens and encapsulates a connection to a DDFS master.

    :param master: address of the master, for instance ``http://localhost:8989``.
    """

    def __init__(self, master: str | None = None, proxy: str | None = None,
                 settings: Any = None) -> None:
        self.settings = settings or DiscoSettings()
        self.proxy = proxy or self._setting("DISCO_PROXY") or None
        self.master = _master_url(self.proxy or master or self.settings["DISCO_MASTER"])
        self.settings["DISCO_MASTER"] = self.master
        self.http = _Http(float(self._setting("DDFS_CONNECT_TIMEOUT") or 3),
                          float(self._setting("DDFS_READ_TIMEOUT") or 600), retries=5)

    def __repr__(self) -> str:
        return f"DDFS master at {self.master}"

    def _setting(self, name: str) -> Any:
        try:
            return self.settings[name]
        except KeyError:  # a setting this settings object does not define
            return None

    # -- names --------------------------------------------------------------------------------
    @classmethod
    def safe_name(cls, name: str) -> str:
        return unsafe_re.sub("_", name)

    @classmethod
    def blob_name(cls, url: str) -> str:
        return url.split("/")[-1].split("$")[0]

    @classmethod
    def job_blob(cls, jobname: str, filename: str) -> str:
        return f"disco:blob:{jobname}:{os.path.basename(filename)}"

    @classmethod
    def job_oob(cls, jobname: str) -> str:
        return f"disco:job:oob:{jobname}"

    @classmethod
    def job_tag(cls, jobname: str) -> str:
        """The tag holding the saved results of ``jobname``: ``disco:results:<job>``, the
        name Disco's master gives it (DISCO.md §2.2, §6); Disco's client named it
        ``disco:job:results:<job>``, which nothing ever wrote, so both agree here."""
        return f"disco:results:{jobname}"

    @classmethod
    def job_result_blob(cls, jobname: str, taskid: int, runid: int, filename: str) -> str:
        """Blob name of a saved task output: ``<job>:<taskid>:<runid>:<basename>``."""
        return cls.safe_name(f"{jobname}:{taskid}:{runid}:{os.path.basename(filename)}")

    # -- tags ---------------------------------------------------------------------------------
    def attrs(self, tag: Any, token: str | None = None) -> dict:
        """The tag's user attributes."""
        return self.get(tag, token=token).get("user-data")

    def get(self, tag: Any, token: str | None = None) -> dict:
        """The tag object stored at ``tag``."""
        return self._json("GET", self._tag_url(tag), token=self._token(tag, token, "GET"))

    def getattr(self, tag: Any, attr: str, token: str | None = None) -> Any:
        return self._json("GET", self._tag_url(tag, attr), token=self._token(tag, token, "GET"))

    def setattr(self, tag: Any, attr: str, val: Any, token: str | None = None) -> Any:
        return self._json("PUT", self._tag_url(tag, attr), json.dumps(val).encode(),
                          token=self._token(tag, token, "PUT"))

    def delattr(self, tag: Any, attr: str, token: str | None = None) -> Any:
        return self._json("DELETE", self._tag_url(tag, attr),
                          token=self._token(tag, token, "DELETE"))

    def delete(self, tag: Any, token: str | None = None) -> Any:
        """Delete ``tag`` (deleting a missing tag is fine)."""
        return self._json("DELETE", self._tag_url(tag), token=self._token(tag, token, "DELETE"))

    def urls(self, tag: Any, token: str | None = None) -> list:
        return self.get(tag, token=token)["urls"]

    def list(self, prefix: str = "") -> list[str]:
        """Names of all tags starting with ``prefix``."""
        return self._json("GET", f"{self.master}/ddfs/tags/{prefix}")

    def exists(self, tag: Any) -> bool:
        try:
            self.get(tag)
            return True
        except CommError as exc:
            if exc.code == 401:
                return True
            if exc.code not in (403, 404):
                raise
        return False

    def put(self, tag: Any, urls: list, token: str | None = None) -> Any:
        """Replace the URL list of ``tag`` (concurrent writers should use :meth:`tag`)."""
        return self._json("PUT", self._tag_url(tag), json.dumps(urls).encode(),
                          token=self._token(tag, token, "PUT"))

    def tag(self, tag: Any, urls: list, token: str | None = None, delayed: bool = False,
            update: bool = False, **_kwargs: Any) -> Any:
        """Append ``urls`` (a list of replica lists) to ``tag``; returns the tag's replica URLs."""
        query = f"delayed={'1' if delayed else ''}&update={'1' if update else ''}"
        return self._json("POST", f"{self._tag_url(tag)}?{query}", json.dumps(urls).encode(),
                          token=self._token(tag, token, "POST"))

    def walk(self, tag: Any, ignore_missing: bool = True, tagpath: tuple = (),
             token: str | None = None) -> Iterator[tuple]:
        """Depth-first walk of the tag graph yielding ``(tagpath, tags, blobs)``."""
        tagpath += (canonizetag(tag),)
        try:
            urls = self.get(tag, token=token).get("urls", [])
            tags, blobs = _partition(urls)
            yield tagpath, tags, blobs
        except CommError as exc:
            if ignore_missing and exc.code == 404:
                tags = blobs = ()
                yield tagpath, tags, blobs
            else:
                yield tagpath, None, None
                raise
        for next_tag in relativizetags(tags, tag):
            yield from self.walk(next_tag, ignore_missing=ignore_missing, tagpath=tagpath,
                                 token=token)

    def findtags(self, tags: Any = (), ignore_missing: bool = True,
                 token: str | None = None) -> Iterator[tuple]:
        """Breadth-first over the tag graph yielding ``(tag, tags, blobs)`` once per tag."""
        seen: set[str] = set()
        queue = canonizetags(tags) if tags else []
        for tag in queue:
            if tag in seen:
                continue
            seen.add(tag)
            try:
                urls = self.get(tag, token=urltoken(tag) if token is None else token).get(
                    "urls", []
                )
            except CommError as exc:
                if ignore_missing and exc.code == 404:
                    continue
                raise
            children, blobs = _partition(urls)
            yield tag, children, blobs
            queue += relativizetags(children, tag)

    def blobs(self, tag: Any, ignore_missing: bool = True,
              token: str | None = None) -> Iterator[list]:
        """The replica lists of every blob reachable from ``tag``."""
        for _path, tags, blobs in self.walk(tag, ignore_missing=ignore_missing, token=token):
            if tags != blobs:
                yield from blobs

    # -- blobs --------------------------------------------------------------------------------
    def pull(self, tag: Any, blobfilter: Callable[[str], bool] = lambda x: True,
             token: str | None = None) -> Iterator[RemoteFile]:
        """An open remote file per blob of ``tag`` whose name passes ``blobfilter``."""
        for replicas in self.urls(tag, token=token):
            if blobfilter(self.blob_name(replicas[0])):
                yield self.open_replicas(replicas)

    def open_replicas(self, replicas: list[str]) -> RemoteFile:
        """Open a random replica, falling back to the others (fast on dead nodes)."""
        order = list(replicas)
        random.shuffle(order)
        error: Exception | None = None
        for url in order:
            try:
                return self.open_url(url)
            except CommError as exc:
                log.info("replica %s unavailable (%s); trying the next", url, exc)
                error = exc
        raise error or CommError("no replicas", replicas)

    def open_url(self, url: str) -> RemoteFile:
        http_url = self.http_url(url)
        resp = self.http.open("GET", http_url)
        if resp.status != 200:
            body = resp.read()
            raise CommError(body.decode("utf-8", "replace"), http_url, resp.status)
        return RemoteFile(http_url, resp)

    def http_url(self, url: str) -> str:
        """``disco://host/ddfs/...`` -> ``http://host:DISCO_PORT/ddfs/...``."""
        scheme, loc, path = urlsplit(url, disco_port=self._setting("DISCO_PORT"))
        if scheme in ("http", "https"):
            return f"{scheme}://{loc}/{path}"
        return url

    def push(self, tag: Any, files: Iterable, replicas: int | None = None,
             forceon: Iterable[str] = (), retries: int = 10, delayed: bool = False,
             update: bool = False, token: str | None = None) -> tuple[Any, list]:
        """Push files (paths, ``(path, name)`` or ``(fileobj, name)``) as blobs, then tag them."""
        aims = [_aim(f) for f in files]

        def push_one(aim: tuple[Any, str]) -> list[str]:
            return self._push(aim, replicas=replicas, forceon=list(forceon), retries=retries)
        if len(aims) > 1:  # a few at once: one file's fsync overlaps the next one's transfer
            from concurrent.futures import ThreadPoolExecutor  # (see `_upload_all`)
            with ThreadPoolExecutor(max_workers=min(PUSH_PARALLEL, len(aims))) as pool:
                urls = list(pool.map(push_one, aims))
        else:
            urls = [push_one(aim) for aim in aims]
        return self.tag(tag, urls, delayed=delayed, update=update, token=token), urls

    def upload(self, source: Any, name: str, replicas: int | None = None,
               forceon: Iterable[str] = (), retries: int = 10) -> list[str]:
        """Store ``source`` (a path or a file object) as blob ``name`` without tagging it;
        :return: the URLs of its replicas."""
        return self._push((source, self.safe_name(name)), replicas=replicas,
                          forceon=list(forceon), retries=retries)

    def save(self, jobname: str, paths: Iterable[str], retries: int = 600) -> str:
        """Push ``paths`` as the saved results of ``jobname`` into its results tag
        (:meth:`job_tag`, the tag the master writes for ``save_results`` jobs)."""
        tag = self.job_tag(jobname)
        blobs = [(p, self.job_blob(jobname, p)) for p in paths]
        self.push(tag, blobs, retries=retries, delayed=True, update=True)
        return tag

    def chunk(self, tag: Any, urls: Iterable, replicas: int | None = None,
              forceon: Iterable[str] = (), retries: int = 10, delayed: bool = False,
              update: bool = False, token: str | None = None, chunk_size: int = CHUNK_SIZE,
              max_record_size: int = MAX_RECORD_SIZE, input_stream: Any = None,
              **kwargs: Any) -> tuple[Any, list]:
        """Read records of each input, pack them into Disco-format chunks, push and tag them.

        An input is a URL or a replica list; ``-`` is ``sys.stdin.buffer`` (size unknown) and
        a URL without a scheme is a local file.  ``reader=f(fd, size, url[, params])`` turns
        an opened input into records (default: its lines).  ``input_stream`` (a function of
        that form or a sequence of them, as in ``result_iterator``; ``ddfs chunk -T``) opens
        each input instead of the built-in opener; stdin is already open, so it is not
        passed through them.  ``params`` is given to 4-argument streams and readers.
        """
        reader, params = kwargs.get("reader"), kwargs.get("params")
        streams = _stream_list(input_stream)
        blobs = []
        for reps in urls:
            reps = [reps] if isinstance(reps, str) else list(reps)
            records = self._records(reps, reader, streams, params)
            for n, chunk in enumerate(_chunks(records, chunk_size, max_record_size)):
                name = self.safe_name(f"{os.path.basename(reps[0])}-{n}")
                blobs.append(self._push((io.BytesIO(chunk), name), replicas=replicas,
                                        forceon=list(forceon), retries=retries))
        return self.tag(tag, blobs, delayed=delayed, update=update, token=token), blobs

    def tarblobs(self, tarball: str, compress: bool = True, include: str | None = None,
                 exclude: str | None = None) -> Iterator[tuple[str, BinaryIO, int]]:
        """``(name, fileobj, size)`` for every member file of ``tarball``."""
        import tarfile  # only here: ~1.6 ms of every client's `import disco.core` otherwise
        with tarfile.open(tarball) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                if (include and include not in member.name) or (exclude and exclude in
                                                                member.name):
                    continue
                data = tar.extractfile(member).read()
                if compress:
                    data = gzip.compress(data, compresslevel=2)
                name = DDFS.safe_name(member.name) + ("_gz" if compress else "")
                yield name, io.BytesIO(data), len(data)

    # -- internals ----------------------------------------------------------------------------
    def _records(self, replicas: list[str], reader: Any, streams: list | None = None,
                 params: Any = None) -> Iterator[Any]:
        """The records of one input (see :meth:`chunk`); every opened file is closed after."""
        url = replicas[0]
        with contextlib.ExitStack() as opened:
            if url == "-":
                stream, size = _stdin(), None
            elif streams:
                stream, size, url = _open_chain(streams, url, params, opened)
            else:
                stream, size = self._open_input(replicas)
                opened.callback(stream.close)
            yield from (_call_stream(reader, stream, size, url, params) if reader else stream)

    def _open_input(self, replicas: list[str]) -> tuple[Any, int]:
        """A local path, ``file://`` URL or remote replica list, opened for reading."""
        url = replicas[0]
        if "://" not in url or url.startswith("file://"):
            stream: Any = open(url[len("file://"):] if "://" in url else url, "rb")
            return stream, os.fstat(stream.fileno()).st_size
        remote = self.open_replicas(replicas)
        return io.BufferedReader(remote, COPY_BUFFER), len(remote)

    def _push(self, aim: tuple[Any, str], replicas: int | None = None, forceon: list = (),
              exclude: list = (), retries: int = 10) -> list[str]:
        source, target = aim
        with _Spooled(source) as (path, size):
            exclude = list(exclude)
            for attempt in range(retries + 1):
                query = urllib.parse.urlencode(
                    [(k, v) for k, v in (("exclude", ",".join(exclude)),
                                         ("include", ",".join(forceon)),
                                         ("replicas", replicas)) if v])
                put_urls = self._json("GET", f"{self.master}/ddfs/new_blob/{target}?{query}")
                try:
                    return self._upload_all(put_urls, path, size)
                except CommError as exc:
                    if attempt == retries:
                        raise
                    host = urllib.parse.urlsplit(str(exc.url)).hostname
                    log.warning("upload to %s failed (%s); retrying elsewhere", host, exc)
                    if host and host not in exclude:
                        exclude.append(host)
        raise AssertionError("unreachable")

    def _upload_all(self, urls: list[str], path: str, size: int) -> list[str]:
        # imported here: concurrent.futures.thread (and queue) were ~5 ms of every client's
        # `import disco.core`, and only pushes use a pool
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=max(1, len(urls))) as pool:
            return list(pool.map(lambda u: self._upload_one(u, path, size), urls))

    def _upload_one(self, url: str, path: str, size: int) -> str:
        with open(path, "rb") as body:
            resp = self.http.open("PUT", url, body, length=size)
            data = resp.read()
        if resp.status not in (200, 201):
            raise CommError(data.decode("utf-8", "replace"), url, resp.status)
        return json.loads(data)

    def _tag_url(self, tag: Any, attr: str | None = None) -> str:
        netloc, name = _split_tag(tag)
        host = netloc.rpartition("@")[2]
        base = f"http://{host}" if host else self.master
        if host and ":" not in host:
            base = f"http://{host}:{self._setting('DISCO_PORT') or 8989}"
        url = f"{base}/ddfs/tag/{name}"
        return f"{url}/{attr}" if attr else url

    def _token(self, tag: Any, token: str | None, method: str) -> str | None:
        if token is not None:
            return token
        found = urltoken(canonizetag(tag)) if istag(tag) else None
        if found:
            return found
        name = "DDFS_READ_TOKEN" if method == "GET" else "DDFS_WRITE_TOKEN"
        return self._setting(name) or None

    def _json(self, method: str, url: str, data: bytes | None = None,
              token: str | None = None) -> Any:
        resp = self.http.open(method, url, data, headers=auth_header(token))
        body = resp.read()
        if resp.status >= 300:
            raise CommError(body.decode("utf-8", "replace"), url, resp.status)
        return json.loads(body) if body else None


def _master_url(master: str) -> str:
    """``disco://host`` or ``host:port`` -> an http URL."""
    master = master.rstrip("/")
    if master.startswith("disco://"):
        return "http://" + master[len("disco://"):]
    if "://" not in master:
        return f"http://{master}"
    return master


def _partition(urls: list) -> tuple[list[str], list]:
    tags = [canonizetag(reps) for reps in urls if istag(reps)]
    blobs = [reps for reps in urls if not istag(reps)]
    return tags, blobs


def _aim(item: Any) -> tuple[Any, str]:
    if isinstance(item, (str, os.PathLike)):
        return str(item), DDFS.safe_name(os.path.basename(str(item)))
    source, target = item
    return source, target


class _Spooled:
    """A path and size for any source: a file path as is, a file object copied to a temp file
    (so every replica upload, and every retry, can read it from the start)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.temp: str | None = None

    def __enter__(self) -> tuple[str, int]:
        if isinstance(self.source, str):
            return self.source, os.path.getsize(self.source)
        fd, self.temp = tempfile.mkstemp(prefix="ddfs-push-")
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(self.source, out, COPY_BUFFER)
        return self.temp, os.path.getsize(self.temp)

    def __exit__(self, *_exc: Any) -> None:
        if self.temp:
            os.unlink(self.temp)


def _stdin() -> Any:
    """The current ``sys.stdin`` as bytes (works when a caller replaced ``sys.stdin``)."""
    return getattr(sys.stdin, "buffer", sys.stdin)


def _stream_list(input_stream: Any) -> list:
    """``None``, one stream function or a sequence of them -> a list of functions."""
    if input_stream is None:
        return []
    if callable(input_stream):
        return [input_stream]
    return [s for s in input_stream if s]


def _takes_params(function: Any) -> bool:
    """True when ``function`` takes a 4th positional argument (``params``)."""
    try:
        positional = [p for p in inspect.signature(function).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return False
    return len(positional) >= 4


def _call_stream(function: Any, fd: Any, size: Any, url: str, params: Any) -> Any:
    """``function(fd, size, url[, params])``, as Disco's input streams and readers are called."""
    if _takes_params(function):
        return function(fd, size, url, params)
    return function(fd, size, url)


def _open_chain(streams: list, url: str, params: Any,
                opened: contextlib.ExitStack) -> tuple[Any, Any, str]:
    """Open ``url`` through a chain of input streams, starting from ``(None, None, url)``.

    A 3-tuple result is ``(fd, size, url)``, a 2-tuple ``(fd, url)``, anything else the new
    ``fd``; each fd with a ``close`` is closed by ``opened``.
    """
    fd: Any = None
    size: Any = None
    for function in streams:
        result = _call_stream(function, fd, size, url, params)
        if isinstance(result, tuple) and len(result) == 3:
            fd, size, url = result
        elif isinstance(result, tuple) and len(result) == 2:
            fd, url = result
        else:
            fd = result
        if hasattr(fd, "close"):
            opened.callback(fd.close)
    return fd, size, url


def _chunks(records: Iterable[Any], chunk_size: int, max_record_size: int) -> Iterator[bytes]:
    """Disco-format streams of ``records``, a new one after ``chunk_size`` bytes."""
    yield from fileutils.Chunker(chunk_size=chunk_size,
                                 max_record_size=max_record_size).chunks(records)
