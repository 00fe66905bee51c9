"""A node's DDFS storage under DDFS_DATA in Disco's layout (blocking I/O; run in threads).

``vol<N>/blob/<hh>/<name>$<ts>`` and ``vol<N>/tag/<hh>/<name>$<ts>``.  Writes go to
``vol<N>/<kind>/<hh>/!partial.<objname>.<rand>``, are fsynced and then hard-linked into place,
which fails rather than overwrites when the object exists; readers never see partial data.
"""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import BinaryIO

from disco.ddfs_server.names import (PARTIAL_PREFIX, VOLUME_RE, InvalidName, parse_objname,
                                     parse_timestamp)
from disco.urls import hexhash
from disco.error import DiscoError

log = logging.getLogger(__name__)
KINDS = ("blob", "tag")
TRASH_PREFIX = "!trash."


class ObjectExists(DiscoError):
    """An object with this name is already stored; DDFS objects are never overwritten."""


@dataclass(frozen=True)
class StoredObject:
    kind: str
    volume: str
    objname: str
    size: int
    mtime: float

    def as_list(self) -> list:
        return [self.kind, self.volume, self.objname, self.size, self.mtime]


def volumes(root: str) -> list[str]:
    """The volume directories (``vol*``), creating ``vol0`` when there is none."""
    os.makedirs(root, exist_ok=True)
    found = sorted(n for n in os.listdir(root) if VOLUME_RE.match(n)
                   and os.path.isdir(os.path.join(root, n)))
    if not found:
        os.makedirs(os.path.join(root, "vol0"), exist_ok=True)
        found = ["vol0"]
    return found


def choose_volume(root: str) -> str:
    """The volume with the most free space (volumes may be symlinks to other disks)."""
    vols = volumes(root)
    if len(vols) == 1:
        return vols[0]
    return max(vols, key=lambda v: _free_bytes(os.path.join(root, v)))


def _free_bytes(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def disk_usage(root: str) -> tuple[int, int]:
    """(free KB, used-by-DDFS KB) over all volumes' filesystems."""
    free = used = 0
    seen_fs: set[int] = set()
    for vol in volumes(root):
        path = os.path.join(root, vol)
        st = os.statvfs(path)
        if st.f_fsid not in seen_fs:
            seen_fs.add(st.f_fsid)
            free += st.f_bavail * st.f_frsize
        used += sum(o.size for o in _walk_volume(root, vol))
    return free // 1024, used // 1024


def object_dir(root: str, volume: str, kind: str, objname: str) -> str:
    return os.path.join(root, volume, kind, hexhash(objname))


def find_object(root: str, kind: str, objname: str) -> str | None:
    """Relative path of a stored object, searching every volume."""
    for vol in volumes(root):
        rel = f"{vol}/{kind}/{hexhash(objname)}/{objname}"
        if os.path.isfile(os.path.join(root, rel)):
            return rel
    return None


class PartialWrite:
    """A file being written under a ``!partial`` name; commit() makes it visible."""

    def __init__(self, root: str, kind: str, objname: str) -> None:
        parse_objname(objname)
        self.kind, self.objname = kind, objname
        self.volume = choose_volume(root)
        self.directory = object_dir(root, self.volume, kind, objname)
        os.makedirs(self.directory, exist_ok=True)
        self.final = os.path.join(self.directory, objname)
        if os.path.exists(self.final):
            raise ObjectExists(f"{kind} {objname} already exists")
        # a digest, not the name: a long name plus the prefix would pass NAME_MAX
        digest = hashlib.md5(objname.encode("utf-8")).hexdigest()
        self.path = os.path.join(self.directory,
                                 f"{PARTIAL_PREFIX}.{digest}.{secrets.token_hex(4)}")
        self.file: BinaryIO = open(self.path, "xb")
        self.size = 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.size += len(data)

    def commit(self) -> str:
        """fsync, then link into place (never overwriting); returns the relative path."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.chmod(self.path, 0o444)
        try:
            os.link(self.path, self.final)
        except FileExistsError as exc:
            raise ObjectExists(f"{self.kind} {self.objname} already exists") from exc
        finally:
            _unlink_quietly(self.path)
        _fsync_dir(self.directory)
        return f"{self.volume}/{self.kind}/{hexhash(self.objname)}/{self.objname}"

    def abort(self) -> None:
        if not self.file.closed:
            self.file.close()
        _unlink_quietly(self.path)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_object(root: str, kind: str, objname: str, data: bytes) -> str:
    """Store a small object (a tag version) atomically; returns its relative path."""
    partial = PartialWrite(root, kind, objname)
    try:
        partial.write(data)
        return partial.commit()
    except BaseException:
        partial.abort()
        raise


def _walk_volume(root: str, vol: str, kinds: tuple[str, ...] = KINDS):
    for kind in kinds:
        kind_dir = os.path.join(root, vol, kind)
        if not os.path.isdir(kind_dir):
            continue
        for hh in os.listdir(kind_dir):
            sub = os.path.join(kind_dir, hh)
            if not os.path.isdir(sub):
                continue
            for entry in os.scandir(sub):
                if entry.name.startswith("!"):
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                yield StoredObject(kind, vol, entry.name, st.st_size, st.st_mtime)


def list_objects(root: str, kinds: tuple[str, ...] = KINDS) -> list[StoredObject]:
    return [o for vol in volumes(root) for o in _walk_volume(root, vol, kinds)]


def latest_tags(root: str) -> dict[str, list]:
    """{tag name: [ts, volume]} of the newest stored version of every tag."""
    latest: dict[str, tuple[int, str, str]] = {}
    for obj in list_objects(root, ("tag",)):
        try:
            parsed = parse_objname(obj.objname)
        except InvalidName:
            continue
        micros = parsed.micros
        if parsed.name not in latest or micros > latest[parsed.name][0]:
            latest[parsed.name] = (micros, parsed.ts, obj.volume)
    return {name: [ts, vol] for name, (_m, ts, vol) in latest.items()}


def remove_stale_partials(root: str, grace: float, now: float | None = None) -> int:
    """Delete ``!partial`` files older than `grace` seconds (uploads that never finished)."""
    now = time.time() if now is None else now
    removed = 0
    for vol in volumes(root):
        for kind in KINDS:
            kind_dir = os.path.join(root, vol, kind)
            if not os.path.isdir(kind_dir):
                continue
            for hh in os.listdir(kind_dir):
                removed += _remove_partials_in(os.path.join(kind_dir, hh), grace, now)
    return removed


def _remove_partials_in(directory: str, grace: float, now: float) -> int:
    removed = 0
    if not os.path.isdir(directory):
        return 0
    for entry in os.scandir(directory):
        if entry.name.startswith(PARTIAL_PREFIX):
            try:
                if now - entry.stat().st_mtime > grace:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
    return removed


def delete_object(root: str, kind: str, volume: str, objname: str, paranoid: bool) -> bool:
    """Remove one object (or rename it to ``!trash.`` with DDFS_PARANOID_DELETE)."""
    parse_objname(objname)
    if kind not in KINDS or not VOLUME_RE.match(volume):
        raise InvalidName(f"invalid object location {kind}/{volume}")
    path = os.path.join(object_dir(root, volume, kind, objname), objname)
    try:
        if paranoid:
            os.rename(path, os.path.join(os.path.dirname(path), TRASH_PREFIX + objname))
        else:
            os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def object_age_ok(objname: str) -> bool:
    """True when the name's timestamp parses (used to skip foreign files)."""
    try:
        parse_timestamp(objname.partition("$")[2])
        return True
    except InvalidName:
        return False
