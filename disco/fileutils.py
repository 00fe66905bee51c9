"""Disco's on-disk record format, atomic files and job-home zips (client/worker side).

**Record stream v1** (the output of every task and of ``ddfs chunk``): a sequence of hunks.
A hunk is a 14-byte header ``struct '<BBIQ'`` = ``(0x80 + version, is_compressed,
crc32(uncompressed payload), len(stored payload))`` followed by the payload: the
concatenated pickles of the records, zlib-compressed (level 2). A hunk is flushed when it
holds more than ``HUNK_SIZE`` uncompressed bytes; ``close()`` flushes, then appends one
more (empty) hunk as Disco does. Readers stop at EOF or at a hunk of stored size 0.
``compression_level=0`` stores hunks uncompressed (flag 0), as the Stage API does for the
outputs of a stage that only the next stage reads (``task_io.shuffle_output_stream``).

Records are pickled with protocol 3 (Disco used protocol 1, which in Python 3 encodes
bytes through ``codecs`` and is 3x larger and 6x slower); any pickle protocol is read.

**Old v0 format**: ``"<len(k)> <k> <len(v)> <v>\\n"`` records, recognised by a first byte
below 128.
"""
from __future__ import annotations

import io
import logging
import os
import pickle
import select
import struct
import time
import zlib
from inspect import getmodule, getsourcefile
from itertools import chain
from typing import IO, Any, Iterable, Iterator
from zipfile import ZIP_DEFLATED, ZipFile

from disco.error import DataError, DiscoError

log = logging.getLogger(__name__)

MB = 1024 ** 2
MIN_DISK_SPACE = 1 * MB
MAX_RECORD_SIZE = 1 * MB
HUNK_SIZE = 1 * MB
CHUNK_SIZE = 64 * MB
#: a hunk header claiming more than this is corrupt (hunks are about HUNK_SIZE plus a record)
MAX_HUNK_SIZE = 4 * 1024 * MB

HUNK_HEADER = struct.Struct("<BBIQ")
HUNK_HEADER_SIZE = HUNK_HEADER.size  # 14
RECORD_PROTOCOL = 3
COMPRESSION_LEVEL = 2
_READ_BUFFER = 1 << 20
_dumps = pickle.dumps


# --- writing ---------------------------------------------------------------------------

class DiscoOutputStream_v0:
    """Writes old-style ``"<len(k)> <k> <len(v)> <v>\\n"`` text records."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def add(self, k: Any, v: Any) -> None:
        k, v = str(k), str(v)
        self.stream.write(f"{len(k)} {k} {len(v)} {v}\n".encode("utf-8"))

    def close(self) -> None:
        pass


class DiscoOutputStream_v1:
    """Writes records in Disco's hunked, checksummed, compressed format to ``stream``."""

    def __init__(self, stream: IO[bytes], version: int = 1,
                 compression_level: int = COMPRESSION_LEVEL, min_hunk_size: int = HUNK_SIZE,
                 max_record_size: int | None = None) -> None:
        self.stream = stream
        self.version = version
        self.compression_level = compression_level
        self.min_hunk_size = min_hunk_size
        self.max_record_size = max_record_size
        #: bytes written to ``stream`` so far (headers included)
        self.size = 0
        #: uncompressed bytes in the pending hunk
        self.hunk_size = 0
        self._hunk: list[bytes] = []
        #: records written so far (counted per hunk, for the task's counters)
        self.records = 0

    def add(self, k: Any, v: Any) -> None:
        # append() inlined: this is the hot path of every map and reduce output.
        data = _dumps((k, v), RECORD_PROTOCOL)
        if self.max_record_size and len(data) > self.max_record_size:
            raise ValueError(f"Record of size {len(data)} is larger than max_record_size: "
                             f"{self.max_record_size}")
        self._hunk.append(data)
        self.hunk_size += len(data)
        if self.hunk_size > self.min_hunk_size:
            self.flush()

    def append(self, record: Any) -> None:
        data = _dumps(record, RECORD_PROTOCOL)
        if self.max_record_size and len(data) > self.max_record_size:
            raise ValueError(f"Record of size {len(data)} is larger than max_record_size: "
                             f"{self.max_record_size}")
        self._hunk.append(data)
        self.hunk_size += len(data)
        if self.hunk_size > self.min_hunk_size:
            self.flush()

    def flush(self) -> None:
        """Write the pending records as one hunk (an empty hunk if there are none)."""
        payload = b"".join(self._hunk)
        self.records += len(self._hunk)
        self._hunk = []
        self.hunk_size = 0
        self._write_hunk(payload)

    def _write_hunk(self, payload: bytes) -> None:
        checksum = zlib.crc32(payload) & 0xFFFFFFFF
        compressed = self.compression_level > 0
        if compressed:
            payload = zlib.compress(payload, self.compression_level)
        header = HUNK_HEADER.pack(128 + self.version, int(compressed), checksum, len(payload))
        self.stream.write(header)
        self.stream.write(payload)
        self.size += len(header) + len(payload)

    def close(self) -> None:
        if self.hunk_size:
            self.flush()
        self.flush()


class DiscoOutputStream:
    """Factory: ``DiscoOutputStream(stream, version=0)`` gives v0, anything else v1."""

    def __new__(cls, stream: IO[bytes], version: int = -1, **kwargs: Any) -> Any:  # type: ignore[misc]
        if version == 0:
            return DiscoOutputStream_v0(stream, **kwargs)
        return DiscoOutputStream_v1(stream, version=1, **kwargs)


class DiscoOutput(DiscoOutputStream_v1):
    """A v1 record stream written atomically to ``path`` (visible only after close)."""

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(AtomicFile(path), **kwargs)
        self.path = path

    def close(self) -> None:
        super().close()
        self.stream.close()


class Chunker:
    """Packs records into complete v1 streams ("chunks") of about ``chunk_size`` bytes."""

    def __init__(self, chunk_size: int = CHUNK_SIZE,
                 max_record_size: int = MAX_RECORD_SIZE) -> None:
        self.chunk_size = chunk_size
        self.max_record_size = max_record_size

    def chunks(self, records: Iterable[Any]) -> Iterator[bytes]:
        out = self.makeout()
        for record in records:
            if out.size > self.chunk_size:
                yield self.dumpout(out)
                out = self.makeout()
            out.append(record)
        if out.size or out.hunk_size:
            yield self.dumpout(out)

    def dumpout(self, out: DiscoOutputStream_v1) -> bytes:
        out.close()
        return out.stream.getvalue()  # type: ignore[attr-defined]

    def makeout(self) -> DiscoOutputStream_v1:
        return DiscoOutputStream_v1(io.BytesIO(), max_record_size=self.max_record_size)


# --- reading ---------------------------------------------------------------------------

def read_records(stream: IO[bytes], size: int | None = None, url: Any = None,
                 ignore_corrupt: bool = False) -> Iterator[Any]:
    """Yield the records of a Disco-format stream (v1, or v0 if the first byte < 128).

    Hunks are read one at a time; their records are chained in C (a Python generator step
    per record cost ~0.1 us, a third of reading one)."""
    return chain.from_iterable(_hunks(stream, size, url, ignore_corrupt))


def _hunks(stream: IO[bytes], size: int | None, url: Any,
           ignore_corrupt: bool) -> Iterator[Iterable[Any]]:
    """The records of each hunk in turn, as a list (or the v0 records as one iterator)."""
    offset = 0
    while True:
        header = _read_exactly(stream, HUNK_HEADER_SIZE)
        if not header:
            return
        if header[0] < 128:
            yield read_v0_records(stream, size, url, head=header)
            return
        if len(header) < HUNK_HEADER_SIZE:
            raise DataError(f"Truncated data at {offset} bytes", url)
        _version, is_compressed, checksum, hunk_size = HUNK_HEADER.unpack(header)
        if not hunk_size:
            return
        start = offset + HUNK_HEADER_SIZE
        offset = start + hunk_size
        if hunk_size > MAX_HUNK_SIZE or (size is not None and offset > size):
            raise DataError(f"Corrupted data at {start} bytes: a hunk of {hunk_size} bytes "
                            f"does not fit in the stream", url)
        hunk = _read_exactly(stream, hunk_size)
        if len(hunk) < hunk_size:
            raise DataError(f"Truncated data at {start + len(hunk)} bytes "
                            f"(hunk {start}-{offset} is incomplete)", url)
        data = _hunk_payload(hunk, is_compressed, checksum, start, offset, url, ignore_corrupt)
        if data:
            yield _hunk_records(data, start, offset, url, ignore_corrupt)


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if not data or len(data) == size:
        return data
    parts = [data]
    missing = size - len(data)
    while missing:
        more = stream.read(missing)
        if not more:
            break
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)


def _hunk_payload(hunk: bytes, is_compressed: int, checksum: int, start: int, end: int,
                  url: Any, ignore_corrupt: bool) -> bytes:
    try:
        data = zlib.decompress(hunk) if is_compressed else hunk
        if checksum != (zlib.crc32(data) & 0xFFFFFFFF):
            raise ValueError("Checksum does not match")
        return data
    except (ValueError, zlib.error) as e:
        if ignore_corrupt:
            log.warning("%s: skipping corrupted hunk at bytes %d-%d: %s", url, start, end, e)
            return b""
        raise DataError(f"Corrupted data between bytes {start}-{end}: {e}", url) from None


def _hunk_records(data: bytes, start: int, end: int, url: Any,
                  ignore_corrupt: bool) -> list[Any]:
    # A buffered reader over the whole hunk lets the C unpickler prefetch instead of
    # calling read() per opcode; one Unpickler serves every record of the hunk.
    load = pickle.Unpickler(io.BufferedReader(io.BytesIO(data), len(data))).load
    records = []
    append = records.append
    try:
        while True:
            append(load())
    except EOFError:
        pass
    except Exception as e:
        if not ignore_corrupt:
            raise DataError(f"Corrupted data between bytes {start}-{end}: {e}", url) from None
        log.warning("%s: corrupted records at bytes %d-%d skipped: %s", url, start, end, e)
    return records


def read_v0_records(fd: IO[bytes], size: int | None, url: Any,
                    head: bytes = b"") -> Iterator[tuple[str, str]]:
    """Records of the old ``"<len> <key> <len> <value>\\n"`` format (needs ``size``)."""
    if size is None:
        raise ValueError("Content-length must be defined")
    data = head + fd.read()
    total = len(data)
    idx = 0
    while idx < min(size, total):
        idx, key = _read_netstr(data, idx, url)
        idx, value = _read_netstr(data, idx, url)
        yield key.decode("utf-8"), value.decode("utf-8")
    if total < size:
        raise DataError(f"Truncated input: Expected {size} bytes, got {total}", url)


def _read_netstr(data: bytes, idx: int, url: Any) -> tuple[int, bytes]:
    space = data.find(b" ", idx, idx + 11)
    try:
        length = int(data[idx:space]) if space >= 0 else -1
    except ValueError:
        length = -1
    if length < 0:
        raise DataError(f"Corrupted input: Could not parse a value length at {idx} bytes.", url)
    start = space + 1
    end = start + length
    if end + 1 > len(data):
        raise DataError(f"Truncated input: Expected a value of {length + 1} bytes "
                        f"(offset {start} bytes)", url)
    return end + 1, data[start:end]


# --- files -----------------------------------------------------------------------------

class AtomicFile:
    """A binary file written as ``<path>.partial`` and renamed to ``path`` on close.

    Readers never see a partly written output; a task that dies leaves only the
    ``.partial`` file behind. ``write`` also accepts str (encoded as UTF-8).
    """

    def __init__(self, path: str, buffering: int = _READ_BUFFER) -> None:
        directory = os.path.dirname(path) or "."
        ensure_path(directory)
        ensure_free_space(directory)
        self.path = path
        self.partial = f"{path}.partial"
        self.isopen = True
        self._file = open(self.partial, "wb", buffering=buffering)

    @property
    def name(self) -> str:
        return self.path

    def write(self, data: bytes | str) -> int:
        if isinstance(data, str):
            data = data.encode("utf-8")
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()

    def size(self) -> int:
        """Size of the finished file (after close) or bytes written so far."""
        if self.isopen:
            return self._file.tell()
        return os.path.getsize(self.path)

    def close(self) -> None:
        if self.isopen:
            self._file.close()
            os.rename(self.partial, self.path)
            self.isopen = False

    def discard(self) -> None:
        """Close without publishing: remove the ``.partial`` file."""
        if self.isopen:
            self._file.close()
            self.isopen = False
            try:
                os.remove(self.partial)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


class DiscoZipFile(ZipFile):
    """An in-memory ZIP for a job home (``dumps()`` gives the archive bytes)."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        super().__init__(self.buffer, "w", ZIP_DEFLATED)

    def writepath(self, pathname: str, exclude: Iterable[str] = ()) -> None:
        """Add a file or a directory tree; archive names are the paths themselves.

        ``exclude`` lists extensions (e.g. ``('.pyc', '.pyo')``); ``__pycache__`` dirs are
        skipped whenever ``.pyc`` is excluded.
        """
        exclude = tuple(exclude)
        for path in files(pathname, skip_pycache=".pyc" in exclude):
            if os.path.splitext(path)[1] not in exclude:
                self.write(path, path)

    def writemodule(self, module: Any, arcname: str | None = None) -> None:
        if isinstance(module, str):
            module = __import__(module)
        self.write(getsourcefile(module), arcname=arcname)

    def writesource(self, obj: Any) -> None:
        self.writepath(getsourcefile(getmodule(obj)))

    def dump(self, handle: IO[bytes]) -> None:
        handle.write(self.dumps())

    def dumps(self) -> bytes:
        if self.fp is not None:
            self.close()
        return self.buffer.getvalue()


class NonBlockingInput:
    """Reads from a file descriptor with an overall timeout (``IOError`` when it expires).

    ``t_read``/``t_read_until`` return ``(seconds_spent, data)``; data is bytes (Disco
    returned str in Python 3, which broke byte lengths of non-ASCII payloads).
    """

    def __init__(self, file: Any, timeout: float = 600) -> None:
        self.fd = file.fileno() if hasattr(file, "fileno") else int(file)
        self.timeout = timeout
        os.set_blocking(self.fd, False)

    def select(self, spent: float = 0) -> float:
        started = time.monotonic()
        if spent < self.timeout and any(select.select([self.fd], [], [], self.timeout - spent)):
            return time.monotonic() - started
        raise IOError(f"Reading timed out after {self.timeout} seconds")

    def _read(self, nbytes: int) -> bytes:
        data = os.read(self.fd, nbytes)
        if not data:
            raise IOError("could not read from ready file (closed)")
        return data

    def t_read(self, nbytes: int, spent: float = 0, data: bytes = b"") -> tuple[float, bytes]:
        while len(data) < nbytes:
            spent += self.select(spent)
            data += self._read(nbytes - len(data))
        return spent, data

    def t_read_until(self, delim: bytes, spent: float = 0,
                     data: bytes = b"") -> tuple[float, bytes]:
        if isinstance(delim, str):
            delim = delim.encode()
        while not data.endswith(delim):
            spent += self.select(spent)
            data += self._read(1)
        return spent, data


class Wait(DiscoError):
    """Raised by file objects when reading would block; retry after ``retry_after`` s."""

    retry_after: float = 1

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__(retry_after)
        if retry_after is not None:
            self.retry_after = retry_after


def ensure_path(path: str) -> None:
    """Create directory ``path`` (and parents); racing creators are fine."""
    os.makedirs(path, exist_ok=True)


def ensure_free_space(path: str) -> None:
    """Raise :class:`DataError` if the filesystem of ``path`` has under ``MIN_DISK_SPACE``."""
    stats = os.statvfs(path)
    free = stats.f_bsize * stats.f_bavail
    if free < MIN_DISK_SPACE:
        raise DataError(f"Only {free // 1024} KB disk space available. Task failed.", path)


def files(path: str, skip_pycache: bool = False) -> Iterator[str]:
    """Every file under ``path`` (``path`` itself if it is a file)."""
    if not os.path.isdir(path):
        yield path
        return
    for name in sorted(os.listdir(path)):
        if skip_pycache and name == "__pycache__":
            continue
        yield from files(os.path.join(path, name), skip_pycache)


def get_valid_path(path: str) -> str:
    """``path`` with symlinks resolved when it is a link or relative."""
    if os.path.islink(path) or not path.startswith("/"):
        return os.path.realpath(path)
    return path
