"""I/O functions for Disco tasks: input/output stream chains and readers.

An *input stream* is ``f(fd, size, url[, params])`` returning ``(fd, size, url)``, ``(fd,
url)`` or a new iterable; a chain of them (:class:`StreamCombiner`) opens an input, and
iterating the last object yields the task's entries. An *output stream* is ``f(stream,
partition, url, params)``; the ``add(k, v)`` of the last one writes records.

Defaults: ``task_input_stream`` opens a URL by scheme (text inputs iterate as **bytes**
lines); ``chain_reader`` (= ``disco_input_stream``) decodes Disco's record format;
``task_output_stream`` + ``disco_output_stream`` write it atomically.
"""
from __future__ import annotations

import io
import logging
import re
import sys
from gzip import GzipFile
from typing import Any, Callable, Iterable, Iterator

from disco import schemes, util
from disco.error import DataError
from disco.fileutils import AtomicFile, DiscoOutputStream, read_records, read_v0_records

log = logging.getLogger(__name__)


def gzip_reader(fd: Any, size: Any, url: str, params: Any) -> tuple[GzipFile, Any, str]:
    """Wraps the input in a :class:`gzip.GzipFile` object."""
    return GzipFile(fileobj=fd), size, url


def gzip_line_reader(fd: Any, size: Any, url: str, params: Any) -> Iterator[bytes]:
    """Yields as many lines from the gzipped fd as possible; reports a broken tail."""
    try:
        yield from GzipFile(fileobj=fd)
    except (OSError, EOFError) as e:
        # Disco printed the error: in a worker, stdout lines become MSG events.
        print(f"gzip_line_reader: {url}: {e}")  # noqa: T201


def task_input_stream(stream: Any, size: Any, url: str, params: Any) -> Any:
    """Open ``url`` with ``disco.schemes.scheme_<scheme>.input_stream`` (``file`` if none)."""
    return schemes.input_stream(stream, size, url, params, globals=globals())


def string_input_stream(string: Any, size: Any, url: str, params: Any) -> tuple[Any, int, str]:
    """An in-memory input: bytes give a BytesIO, str a StringIO."""
    stream = io.BytesIO(string) if isinstance(string, (bytes, bytearray)) else io.StringIO(string)
    return stream, len(string), url


def task_output_stream(stream: Any, partition: Any, url: str, params: Any) -> AtomicFile:
    """A handle to a task output file; partly written data is never visible."""
    return AtomicFile(url)


def disco_output_stream(stream: Any, partition: Any, url: str, params: Any) -> Any:
    """Output stream for Disco's internal record format."""
    return DiscoOutputStream(stream)


def shuffle_output_stream(stream: Any, partition: Any, url: str, params: Any) -> Any:
    """Disco's record format with uncompressed hunks, for a stage's output that only the
    next stage reads: zlib was ~30 % of writing a record and ~20 % of reading it back
    (docs/benchmarks.md, "Seventh round"), for data read once from the local disk.
    Hunks flagged uncompressed are part of the format: Disco 0.5.4 reads them too."""
    return DiscoOutputStream(stream, compression_level=0)


def disco_input_stream(stream: Any, size: Any, url: Any,
                       ignore_corrupt: Any = False) -> Iterator[Any]:
    """Input stream for Disco's internal record format (v1, or old v0).

    In a :class:`StreamCombiner` the 4th argument receives the job's ``params``; only an
    actual ``True`` ignores corrupted hunks (Disco ignored corruption whenever params was
    truthy, hiding data loss).
    """
    return read_records(stream, size, url, ignore_corrupt=ignore_corrupt is True)


chain_reader = disco_input_stream


def old_netstr_reader(fd: Any, size: Any, fname: Any, head: bytes = b"") -> Iterator[Any]:
    """Reader for Disco's old ``"<len> <key> <len> <value>\\n"`` key-value format."""
    return read_v0_records(fd, size, fname, head=head)


def re_reader(item_re_str: Any, fd: Any, size: Any, fname: Any, output_tail: bool = False,
              read_buffer_size: int = 8192) -> Iterator[Any]:
    """Parse a stream with a regular expression, yielding ``match.groups()`` per item.

    Unmatched bytes at the end are yielded as ``[tail]`` when ``output_tail``, else
    reported. A stream shorter than a known ``size`` raises :class:`DataError`.
    """
    item_re = re.compile(item_re_str)
    read_size = max(read_buffer_size, 1 << 16)
    buf: Any = None
    total = 0
    while True:
        chunk = fd.read(min(read_size, size - total) if size else read_size)
        total += len(chunk)
        buf = chunk if buf is None else buf + chunk
        position = 0
        match = item_re.match(buf, position)
        while match and match.end() > position:
            yield match.groups()
            position = match.end()
            match = item_re.match(buf, position)
        buf = buf[position:]
        if not chunk or (size is not None and total >= size):
            break
    if size is not None and total < size:
        raise DataError(f"Truncated input: Expected {size} bytes, got {total}", fname)
    if buf:
        if output_tail:
            yield [buf]
        else:
            print(f"Couldn't match the last {len(buf)} bytes in {fname}. "  # noqa: T201
                  f"Some bytes may be missing from input.")


class DiscoPlainOut:
    """Writes ``"<len(k)> <k> <len(v)> <v>\\n"`` text records."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def add(self, k: Any, v: Any) -> None:
        k, v = str(k), str(v)
        self.stream.write(f"{len(k)} {k} {len(v)} {v}\n".encode("utf-8"))

    def close(self) -> None:
        pass


def plain_output_stream(stream: Any, partition: Any, url: str, params: Any) -> DiscoPlainOut:
    return DiscoPlainOut(stream)


chain_stream = (task_input_stream, chain_reader)
default_stream = (task_input_stream,)
gzip_stream = (task_input_stream, gzip_reader)
gzip_line_stream = (task_input_stream, gzip_line_reader)


class StreamCombiner:
    """Opens an input through a chain of input streams; iterating yields its entries.

    Each stream is called as ``f(fd, size, url)`` or, when it takes exactly 4 arguments,
    ``f(fd, size, url, params)``. A 3-tuple result is ``(fd, size, url)``, a 2-tuple
    ``(fd, url)``; anything else becomes the new ``fd``. URL ``'-'`` reads stdin.
    """

    def __init__(self, url: str, streams: Iterable[Callable[..., Any]], params: Any,
                 fd: Any = None, size: Any = None) -> None:
        self.fds: list[Any] = []
        #: the size and URL the first stream (the scheme) reported: what the input counters use
        self.size: Any = None
        self.url: Any = None
        for stream in streams:
            if url == "-":
                fd = sys.stdin.buffer
            else:
                extra = (params,) if _takes_params(stream) else ()
                fd = stream(fd, size, url, *extra)
                if isinstance(fd, tuple):
                    if len(fd) == 3:
                        fd, size, url = fd
                    else:
                        fd, url = fd
            if not self.fds:
                self.size, self.url = size, url
            self.fds.append(fd)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fds[-1])

    def close(self) -> None:
        for fd in reversed(self.fds):
            close = getattr(fd, "close", None)
            if close is not None:
                close()


def _takes_params(stream: Callable[..., Any]) -> bool:
    try:
        return util.argcount(stream) == 4
    except TypeError:
        return False


# --- documentation stubs (Disco's interface descriptions) -----------------------------

def input_stream(stream: Any, size: Any, url: str, params: Any) -> Any:
    """Interface: return ``(InputStream, size, url)`` for the next function in the chain."""


def output_stream(stream: Any, partition: Any, url: str, params: Any) -> Any:
    """Interface: return an :class:`OutputStream` (or ``(stream, url)``) for the chain."""


class OutputStream:
    """Interface of the last object of an output chain."""

    def add(self, key: Any, value: Any) -> None:
        """Adds a key, value pair to the output stream."""

    def close(self) -> None:
        """Close the output stream."""


class InputStream:
    """Interface of the objects of an input chain."""

    def __iter__(self) -> Iterator[Any]:
        """Iterates through input entries."""
        return iter(())

    def read(self, num_bytes: int | None = None) -> bytes:
        """Reads at most ``num_bytes`` from the input source."""
        return b""
