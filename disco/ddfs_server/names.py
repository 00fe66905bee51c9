"""DDFS object names, timestamps and on-disk/URL layout (pure; layer 1: stdlib only).

Disco's rules: tag and blob names use the alphabet ``[A-Za-z0-9_\\-@:]`` and are 1..511
characters long; a stored object is ``<name>$<ts>`` where ``ts`` is ``<hex>-<hex>-<hex>``
(Erlang's ``now()``: mega-seconds, seconds, micro-seconds); the file lives under
``vol<N>/<blob|tag>/<hh>/<name>$<ts>`` where ``hh`` is the first byte of md5(objname) in hex.
"""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass

from disco.urls import hexhash
from disco.error import DiscoError

#: characters allowed in tag and blob names (Disco's ``unsafe_re`` complement)
NAME_RE = re.compile(r"^[A-Za-z0-9_\-@:]+$")
#: the longest name Disco accepts
MAX_NAME_LENGTH = 511
#: blob names longer than this are replaced by their md5 hex digest (as Disco's new_blob does)
MAX_BLOB_NAME_LENGTH = 200
#: a file name's limit on common file systems (ext4, xfs, btrfs: NAME_MAX)
NAME_MAX = 255
#: the longest stored suffix ``$<mega>-<secs>-<micro>`` (4 hex mega-seconds lasts until 2099)
MAX_TS_SUFFIX = len("$ffff-fffff-fffff")
#: the longest tag name whose files fit in NAME_MAX, including the ``!trash.`` name a paranoid
#: delete gives them (longer names failed on the nodes with "File name too long")
MAX_TAG_NAME_LENGTH = NAME_MAX - len("!trash.") - MAX_TS_SUFFIX
#: the internal metatag listing deleted tags (outside the user alphabet on purpose)
DELETED_TAG = "+deleted"
TS_RE = re.compile(r"^[0-9a-f]+-[0-9a-f]+-[0-9a-f]+$")
VOLUME_RE = re.compile(r"^vol\d+$")
PARTIAL_PREFIX = "!partial"


class InvalidName(DiscoError, ValueError):
    """A tag or blob name is outside Disco's alphabet or length limits."""


def is_valid_name(name: str) -> bool:
    """True for a user tag/blob name Disco accepts."""
    return 0 < len(name) <= MAX_NAME_LENGTH and NAME_RE.match(name) is not None


def is_valid_tagname(name: str) -> bool:
    """User names plus the internal ``+deleted`` metatag."""
    return name == DELETED_TAG or is_valid_name(name)


def tag_name_problem(name: str) -> str | None:
    """Why `name` cannot be a user tag (None when it can): the 403 text the master answers."""
    if not is_valid_name(name):
        return "Invalid tag."
    if len(name) > MAX_TAG_NAME_LENGTH:
        return f"Invalid tag: names are at most {MAX_TAG_NAME_LENGTH} characters long."
    return None


def blob_prefix(name: str) -> str:
    """The name new_blob stores: long names become their md5 hex digest."""
    if len(name) > MAX_BLOB_NAME_LENGTH:
        return hashlib.md5(name.encode("utf-8")).hexdigest()
    return name


def format_timestamp(micros: int) -> str:
    """Microseconds since the epoch -> Disco's ``<mega>-<secs>-<micro>`` hex form."""
    secs, micro = divmod(micros, 1_000_000)
    mega, secs = divmod(secs, 1_000_000)
    return f"{mega:x}-{secs:x}-{micro:x}"


def parse_timestamp(ts: str) -> int:
    """Inverse of :func:`format_timestamp`; raises InvalidName for a malformed stamp."""
    if not TS_RE.match(ts):
        raise InvalidName(f"invalid DDFS timestamp {ts!r}")
    mega, secs, micro = (int(part, 16) for part in ts.split("-"))
    return (mega * 1_000_000 + secs) * 1_000_000 + micro


class Clock:
    """Strictly increasing microsecond stamps, so two versions never share an id."""

    def __init__(self) -> None:
        self._last = 0

    def now(self) -> int:
        self._last = max(self._last + 1, int(time.time() * 1_000_000))
        return self._last

    def observe(self, micros: int) -> None:
        """Never hand out a stamp at or below one already seen on disk."""
        self._last = max(self._last, micros)


@dataclass(frozen=True)
class ObjName:
    """A stored object name ``<name>$<ts>``."""

    name: str
    ts: str

    @property
    def micros(self) -> int:
        return parse_timestamp(self.ts)

    def __str__(self) -> str:
        return f"{self.name}${self.ts}"


def pack_objname(name: str, micros: int) -> str:
    return f"{name}${format_timestamp(micros)}"


def parse_objname(objname: str) -> ObjName:
    """Split ``name$ts``, validating both halves (path separators, NUL, ``..`` cannot pass)."""
    name, sep, ts = objname.partition("$")
    if not sep or not is_valid_tagname(name) or not TS_RE.match(ts):
        raise InvalidName(f"invalid DDFS object name {objname!r}")
    return ObjName(name, ts)


def object_relpath(kind: str, objname: str, volume: str = "vol0") -> str:
    """``vol0/blob/<hh>/<objname>`` relative to DDFS_DATA."""
    return f"{volume}/{kind}/{hexhash(objname)}/{objname}"


def object_url(host: str, kind: str, objname: str, volume: str = "vol0") -> str:
    """The ``disco://`` URL Disco hands out for a stored blob or tag replica."""
    return f"disco://{host}/ddfs/{object_relpath(kind, objname, volume)}"


@dataclass(frozen=True)
class DdfsUrl:
    """A parsed DDFS replica URL ``<scheme>://host[:port]/ddfs/vol/<kind>/<hh>/<objname>``."""

    scheme: str
    host: str
    volume: str
    kind: str
    objname: str

    @property
    def name(self) -> str:
        return self.objname.partition("$")[0]


_DDFS_URL_RE = re.compile(
    r"^(?P<scheme>[a-z]+)://(?P<host>[^/:]+)(?::\d+)?/ddfs/(?P<vol>vol\d+)/(?P<kind>blob|tag)/"
    r"[0-9a-f]{2}/(?P<obj>[^/]+)$"
)


def parse_ddfs_url(url: str) -> DdfsUrl | None:
    """Parse a DDFS replica URL; None when the URL is not one (http data, tag:// links...)."""
    match = _DDFS_URL_RE.match(url)
    if not match:
        return None
    return DdfsUrl(match["scheme"], match["host"], match["vol"], match["kind"], match["obj"])


def url_to_name(url: str) -> str:
    """The dedupe key of a replica set's first URL: blob name up to ``$`` (Disco's url_to_name)."""
    return url.rstrip("/").split("/")[-1].split("$")[0]
