"""Helper functions of Disco's Python API (client and worker side).

Iteration helpers (``kvgroup``, ``chainify``, ``flatten`` ...), URL helpers (re-exported
from :mod:`disco.urls`), input expansion (``inputlist``: ``tag://`` through DDFS,
``dir://`` index files read over HTTP), out-of-band results, and the external sort used by
``sort=True`` reduces.
"""
from __future__ import annotations

import builtins
import functools
import gzip
import heapq
import inspect
import io
import logging
import os
import pickle
import random
import re
import tempfile
from itertools import chain, groupby, islice, repeat
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator

from disco import comm, ddfs
from disco.compat import sort_cmd
from disco.error import DataError, DiscoError, InputNotFound
from disco.fileutils import AtomicFile
from disco.settings import DiscoSettings
from disco.urls import (hexhash, localize, netloc, parse_index_line, schemesplit, urljoin,
                        urlresolve, urlsplit, urltoken)

log = logging.getLogger(__name__)

__all__ = [
    "netloc", "chainify", "dsorted", "flatten", "hexhash", "identity", "isiterable", "iskv",
    "iterify", "ilen", "key", "kvgroup", "kvify", "listify", "partition", "reify", "shuffled",
    "argcount", "globalize", "urljoin", "schemesplit", "localize", "urlsplit", "assert_url",
    "urlresolve", "urltoken", "jobname", "external", "deref", "parse_dir", "proxy_url",
    "read_index", "ispartitioned", "inputexpand", "inputlist", "save_oob", "load_oob",
    "format_size", "unix_sort", "encode", "decode", "sort_reader", "disk_sort", "msg", "err",
    "data_err",
]


# --- iteration -------------------------------------------------------------------------

def chainify(iterable: Iterable[Iterable[Any]]) -> list[Any]:
    """Concatenate an iterable of iterables into one list."""
    return list(chain.from_iterable(iterable))


def flatten(iterable: Iterable[Any]) -> Iterator[Any]:
    """Yield the leaves of arbitrarily nested iterables (strings and bytes are leaves)."""
    for item in iterable:
        if isiterable(item):
            yield from flatten(item)
        else:
            yield item


def identity(obj: Any) -> Any:
    return obj


def isiterable(obj: Any) -> bool:
    """True for iterables other than str and bytes."""
    return hasattr(obj, "__iter__") and not isinstance(obj, (str, bytes, bytearray))


def iskv(obj: Any) -> bool:
    return isinstance(obj, tuple) and len(obj) == 2


def iterify(obj: Any) -> Any:
    """``obj`` if it is iterable (not a string), else a one-element iterator."""
    if isiterable(obj):
        return obj
    return repeat(obj, 1)


def ilen(iterator: Iterable[Any]) -> int:
    return sum(1 for _ in iterator)


def key(k_v: tuple[Any, Any]) -> Any:
    return k_v[0]


_first = itemgetter(0)
_second = itemgetter(1)


def kvgroup(kviter: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Iterator[Any]]]:
    """Group the values of consecutive equal keys: ``(k, v)`` pairs -> ``(k, vs)``.

    Does not sort the input first.
    """
    # C key and value getters: no Python frame per pair
    for k, kvs in groupby(kviter, _first):
        yield k, map(_second, kvs)


def kvify(entry: Any) -> tuple[Any, Any]:
    return entry if iskv(entry) else (entry, None)


def listify(obj: Any) -> list[Any]:
    return list(iterify(obj))


def partition(iterable: Iterable[Any], fn: Callable[[Any], Any]) -> tuple[list[Any], list[Any]]:
    """``(items where fn is true, items where it is false)``."""
    true, false = [], []
    for item in iterable:
        (true if fn(item) else false).append(item)
    return true, false


def reify(dotted_name: str, globals: dict[str, Any] | None = None) -> Any:
    """The object named ``package.module.name`` (a bare name is looked up in ``globals``)."""
    if "." in dotted_name:
        package, name = dotted_name.rsplit(".", 1)
        return getattr(__import__(package, fromlist=[name]), name)
    scope = globals if globals is not None else {}
    if dotted_name in scope:
        return scope[dotted_name]
    try:
        return getattr(builtins, dotted_name)
    except AttributeError:
        raise DiscoError(f"Cannot resolve {dotted_name!r}: use a dotted name "
                         f"like 'module.function'") from None


def shuffled(obj: Any) -> list[Any]:
    """A shuffled list of the items of ``obj``."""
    items = listify(obj)
    random.shuffle(items)
    return items


def argcount(obj: Any) -> int:
    """Number of positional arguments ``obj`` takes (partials and bound methods counted)."""
    if isinstance(obj, functools.partial):
        return argcount(obj.func) - len(obj.args or ()) - len(obj.keywords or ())
    if inspect.ismethod(obj):
        return obj.__func__.__code__.co_argcount - 1
    if hasattr(obj, "__code__"):
        return obj.__code__.co_argcount
    if hasattr(obj, "func"):
        return argcount(obj.func)
    call = getattr(obj, "__call__", None)  # noqa: B004  (the bound __call__ itself)
    if call is not None and hasattr(call, "__func__"):
        return call.__func__.__code__.co_argcount - 1
    raise TypeError(f"cannot count the arguments of {obj!r}")


def globalize(obj: Any, globals: dict[str, Any]) -> None:
    """Add ``globals`` to a function's globals without replacing existing names."""
    if isinstance(obj, functools.partial):
        obj = obj.func
    function_globals = getattr(obj, "__globals__", None)
    if function_globals is not None:
        for name, value in globals.items():
            function_globals.setdefault(name, value)


def dsorted(iterable: Iterable[Any], buffer_size: float = 1e6,
            tempdir: str = ".") -> Iterator[Any]:
    """Sort with bounded memory: sorted runs of ``buffer_size`` items spill to temp files."""
    iterator = iter(iterable)
    runs = []
    size = int(buffer_size)
    while True:
        buffer = sorted(islice(iterator, size))
        handle = tempfile.TemporaryFile(dir=tempdir)
        for item in buffer:
            pickle.dump(item, handle, pickle.HIGHEST_PROTOCOL)
        handle.seek(0)
        runs.append(_read_pickles(handle))
        if len(buffer) < size:
            break
    return heapq.merge(*runs)


def _read_pickles(handle: Any) -> Iterator[Any]:
    unpickler = pickle.Unpickler(handle)
    try:
        while True:
            yield unpickler.load()
    except EOFError:
        handle.close()


# --- URLs and inputs -------------------------------------------------------------------

def assert_url(url: Any) -> None:
    """Raise :class:`DiscoError` unless ``url`` has a scheme and a location."""
    if not isinstance(url, str):
        raise DiscoError(f"Invalid URL {url!r}: not a string")
    scheme, loc, _path = urlsplit(url)
    if not scheme or (scheme not in ("file", "raw", "tag") and not loc):
        raise DiscoError(f"Invalid URL {url!r}: expected scheme://host/path")


def jobname(url: str) -> str:
    """The job name in a result URL (``disco://``, ``dir://`` or ``http://``)."""
    scheme, _loc, path = urlsplit(url)
    if scheme not in ("disco", "dir", "http", "https"):
        raise DiscoError(f"Cannot parse jobname from {url}")
    parts = path.strip("/").split("/")
    # disco/HOST/<hh>/<job>/...: the job follows the hash directory.
    if len(parts) >= 4 and parts[0] == "disco":
        return parts[3]
    if len(parts) >= 2:
        return parts[-2]
    raise DiscoError(f"Cannot parse jobname from {url}")


def external(files: Any) -> dict[str, bytes]:
    """Package an external program: ``{'op': <first file>, <basename>: <bytes>, ...}``."""
    paths = [files] if isinstance(files, str) else list(files)
    if not paths:
        raise DiscoError("external() needs at least the program file")
    package = {"op": _read_file(paths[0])}
    for path in paths[1:]:
        package[os.path.basename(path)] = _read_file(path)
    return package


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def proxy_url(url: str, proxy: str | None = None, meth: str = "GET",
              to_master: bool = True) -> str:
    """Route ``url`` through ``DISCO_PROXY`` when one is configured."""
    if proxy is None:
        proxy = DiscoSettings()["DISCO_PROXY"]
    scheme, (host, _port), path = urlsplit(url)
    if proxy and scheme != "tag":
        if to_master:
            return f"{proxy}/{path}"
        return f"{proxy}/proxy/{host}/{meth}/{path}"
    return url


def read_index(dir: Any) -> Iterator[tuple[int, str, int]]:
    """Yield ``(label, url, size)`` for each line of a ``dir://`` index file (gz too)."""
    if isiterable(dir):
        dir = list(dir)[0]  # replicas of one index: read the first
    stream: Any = comm.open_url(proxy_url(dir, to_master=False))
    try:
        if dir.endswith(".gz"):
            stream = gzip.GzipFile(fileobj=stream)
        for line in stream:
            if line.strip():
                yield parse_index_line(line)
    finally:
        stream.close()


def parse_dir(dir: Any, label: int | None = None) -> list[str]:
    """The URLs listed in index ``dir`` (only those of ``label`` unless it is None)."""
    return [url for lab, url, _size in sorted(read_index(dir)) if label in (None, lab)]


def ispartitioned(input: Any) -> Any:
    """True (or the replica count) when the input is all ``dir://`` index files."""
    if isiterable(input):
        items = list(input)
        return all(ispartitioned(i) for i in items) and len(items)
    return isinstance(input, str) and input.startswith("dir://")


def istag(url: Any) -> bool:
    return isinstance(url, str) and url.startswith("tag://")


def input_tag(input: Any) -> str | None:
    """The ``tag://`` URL a job input names, or None: a ``tag://`` URL, or, as in Disco
    (``ddfs.canonizetag``), a bare tag name (no ``://``, no ``/``, not ``-``) made of
    the characters a tag name may hold (``data:logs``; ``input.csv`` is a file)."""
    if not isinstance(input, str):
        return None
    if input.startswith("tag://"):
        return input
    if input and input != "-" and "://" not in input and not ddfs.unsafe_re.search(input):
        return "tag://" + input
    return None


def inputexpand(input: Any, label: Any = None, settings: DiscoSettings | None = None) -> list[Any]:
    """Expand one input: ``dir://`` -> its file URLs (unless ``label is False``), ``tag://``
    -> the tag's blob replica lists, a replica list -> one expanded replica list."""
    if ispartitioned(input) and label is not False:
        return [list(replicas) for replicas in
                zip(*(parse_dir(i, label=label) for i in iterify(input)))]
    if isiterable(input):
        return [inputlist(input, label=label, settings=settings)]
    tag = input_tag(input)
    if tag:
        return expand_tag(input, tag, settings)
    return [local_input(input)]


def local_input(input: Any) -> Any:
    """A relative path to an existing local file, made absolute: a worker runs in its
    job home, not in the client's directory."""
    if isinstance(input, str) and "://" not in input and not os.path.isabs(input) \
            and os.path.exists(input):
        return os.path.abspath(input)
    return input


def expand_tag(input: str, tag: str, settings: DiscoSettings | None = None) -> list[Any]:
    """The blob replica lists of ``tag`` (and of the tags it points at).

    A bare name that is not a tag may still be a local file of that name; if it is
    neither, :class:`InputNotFound` says so (``tag://`` URLs of missing tags give no
    inputs, as in Disco)."""
    client = ddfs.DDFS(settings=settings) if settings is not None else ddfs.DDFS()
    found = list(client.findtags(tag))
    if not found and input != tag:
        if os.path.exists(input):
            return [local_input(input)]
        raise InputNotFound(input, [f"no DDFS tag {input!r} at {client.master} and no "
                                    f"local file {os.path.abspath(input)!r}"])
    return chainify(blobs for _name, _tags, blobs in found)


def inputlist(inputs: Iterable[Any], **kwargs: Any) -> list[Any]:
    """Expand every input (see :func:`inputexpand`), dropping empty ones."""
    return [inp for inp in chainify(inputexpand(input, **kwargs) for input in inputs) if inp]


def deref(inputs: Iterable[Any], resolve: bool = False) -> Iterator[list[str]]:
    """Expanded inputs as replica lists (URLs resolved to http when ``resolve``)."""
    resolver = urlresolve if resolve else identity
    for input in inputlist(inputs):
        yield [resolver(i) for i in iterify(input)]


# --- out-of-band results ---------------------------------------------------------------

def save_oob(host: str, name: str, key: str, value: bytes, ddfs_token: str | None = None) -> None:
    """Store ``value`` under ``key`` for job ``name`` (a blob in tag ``disco:job:oob:<job>``)."""
    client = ddfs.DDFS(host)
    client.push(ddfs.DDFS.job_oob(name), [(io.BytesIO(value), key)], delayed=True,
                token=ddfs_token)


def load_oob(host: str, name: str, key: str) -> bytes | None:
    """The newest value stored under ``key`` for job ``name``, or None."""
    client = ddfs.DDFS(host)
    for fd in client.pull(client.job_oob(name), blobfilter=lambda blob: blob == key):
        return fd.read()
    return None


def format_size(num: float) -> str:
    for unit in (" bytes", "KB", "MB", "GB", "TB"):
        if num < 1024.0:
            return f"{num:3.1f}{unit}"
        num /= 1024.0
    return f"{num:3.1f}PB"


# --- deprecated helpers ----------------------------------------------------------------

def msg(message: str) -> None:
    """Deprecated: print instead (a worker sends printed lines as MSG)."""
    print(message)  # noqa: T201 -- a worker's stdout is the MSG channel


def err(message: str) -> None:
    """Deprecated: raise :class:`DiscoError` instead."""
    raise DiscoError(message)


def data_err(message: str, url: str) -> None:
    """Deprecated: raise :class:`DataError` instead."""
    raise DataError(message, url)


# --- external sort ---------------------------------------------------------------------
# One record per key: <key bytes> \xff <type flag> <escaped pickle of value> \x00, sorted by
# `LC_ALL=C sort -z -t \xff -k 1,1`. str keys sort by their UTF-8 bytes (= code point order)
# and come back as str; Disco accepted bytes keys only.

_ESCAPE = re.compile(rb"[\x00\x01]")
_UNESCAPE = re.compile(rb"\x01([\x01\x02])")
_ESCAPED = {b"\x00": b"\x01\x02", b"\x01": b"\x01\x01"}
_UNESCAPED = {b"\x02": b"\x00", b"\x01": b"\x01"}


def encode(data: bytes) -> bytes:
    """Escape NUL bytes (the record terminator of the sort file)."""
    return _ESCAPE.sub(lambda m: _ESCAPED[m.group()], data)


def decode(data: bytes) -> bytes:
    """Inverse of :func:`encode`."""
    return _UNESCAPE.sub(lambda m: _UNESCAPED[m.group(1)], data)


def _sort_key(k: Any) -> tuple[bytes, bytes]:
    if isinstance(k, str):
        raw, flag = k.encode("utf-8"), b"s"
    elif isinstance(k, (bytes, bytearray)):
        raw, flag = bytes(k), b"b"
    else:
        raise ValueError("Keys must be bytes or str for external sort", k)
    if b"\xff" in raw or b"\x00" in raw:
        raise ValueError("Cannot sort key with 0xFF or 0x00 bytes", k)
    return raw, flag


def unix_sort(filename: str, sort_buffer_size: str = "10%") -> None:
    """Sort a ``disk_sort`` file in place with the external ``sort`` (``LC_ALL=C``)."""
    if not os.path.isfile(filename):
        raise DataError(f"Invalid sort input file {filename}", filename)
    env = dict(os.environ, LC_ALL="C")
    command, shell = sort_cmd(filename, sort_buffer_size)
    argv = [arg.encode("latin-1") if arg == "\xff" else arg for arg in command]
    import subprocess  # only the disk sort runs a command: ~2 ms of every import otherwise
    try:
        subprocess.run(argv, env=env, shell=shell, check=True, cwd=os.path.dirname(filename) or ".",
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (subprocess.CalledProcessError, OSError) as e:
        detail = getattr(e, "stderr", b"") or b""
        raise DataError(f"Sorting {filename} failed: {e} {detail.decode(errors='replace')}",
                        filename) from None


def sort_reader(path: str, block_size: int = 1 << 20) -> Iterator[tuple[Any, Any]]:
    """Read the ``(key, value)`` records of a sorted ``disk_sort`` file."""
    with open(path, "rb") as f:
        pending = b""
        while True:
            block = f.read(block_size)
            if not block:
                break
            records = (pending + block).split(b"\x00")
            pending = records.pop()
            for record in records:
                yield _decode_record(record)
        if pending:
            raise DataError(f"Truncated sort file: {len(pending)} bytes after the last record",
                            path)


def _decode_record(record: bytes) -> tuple[Any, Any]:
    raw, _, rest = record.partition(b"\xff")
    value = pickle.loads(decode(rest[1:]))
    return (raw.decode("utf-8") if rest[:1] == b"s" else raw), value


def disk_sort(worker: Any, input: Iterable[tuple[Any, Any]], filename: str,
              sort_buffer_size: str = "10%") -> Iterator[tuple[Any, Any]]:
    """Sort ``(key, value)`` pairs by key on disk; yields them sorted (keys bytes or str)."""
    _send(worker, f"Downloading {filename}")
    with AtomicFile(filename) as out:
        write = out.write
        for k, v in input:
            raw, flag = _sort_key(k)
            write(b"".join((raw, b"\xff", flag, encode(pickle.dumps(v, pickle.HIGHEST_PROTOCOL)),
                            b"\x00")))
    _send(worker, f"Downloaded {format_size(os.path.getsize(filename))} OK")
    _send(worker, f"Sorting {filename}...")
    unix_sort(filename, sort_buffer_size=sort_buffer_size)
    _send(worker, "Finished sorting")
    yield from sort_reader(filename)


def _send(worker: Any, text: str) -> None:
    if worker:
        worker.send("MSG", text)

