"""The DDFS tag model and Disco's update rules (pure; layer 1: stdlib only, time passed in).

A tag version is a JSON object ``{"version":1, "id":"<tag>$<ts>", "last-modified":...,
"read-token":..., "write-token":..., "urls":[[url,...],...], "user-data":{...}}`` stored on
DDFS_TAG_REPLICAS nodes.  Clients see it without the tokens.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from disco.ddfs_server.names import pack_objname, url_to_name
from disco.error import InvalidTag, TagError  # noqa: F401  (the tag errors live here too)

#: Disco's limits on user attributes (bytes)
MAX_ATTR_NAME = 1024
MAX_ATTR_VALUE = 4096
MAX_ATTRS = 1000
#: the privilege the master itself uses (never comes from a request)
INTERNAL = object()


class Unauthorized(TagError):
    status, message = 401, "Incorrect or missing token."


class InvalidBody(TagError):
    status, message = 403, "Invalid request body."


class InvalidUrlObject(TagError):
    status, message = 403, "Invalid url object"


class InvalidAttribute(TagError):
    status, message = 403, "Invalid attribute key or value"


class TooManyAttributes(TagError):
    status, message = 403, "Too many attributes"


class TagNotFound(TagError):
    status, message = 404, "Tag not found."


class AttributeNotFound(TagError):
    status, message = 404, "Tag attribute not found."


class ReplicationFailed(TagError):
    status, message = 500, "Internal server error: replication_failed"


class Busy(TagError):
    status, message = 503, "Temporary server error. Try again."


class TooManyFailedNodes(TagError):
    """DDFS_TAG_MIN_REPLICAS or more nodes are unreachable: a tag read could miss the newest
    version, so Disco refuses (500, its ``too_many_failed_nodes`` error text)."""

    status, message = 500, "Internal server error: too_many_failed_nodes"


#: Disco's text for a refused tag listing (`GET /ddfs/tags`), formatted without the space
LISTING_REFUSED = "Internal server error:too_many_failed_nodes"


def format_last_modified(unix: float) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(unix))


@dataclass(frozen=True)
class TagContent:
    """One version of a tag."""

    id: str
    last_modified: str
    urls: list = field(default_factory=list)
    user: dict = field(default_factory=dict)
    read_token: str | None = None
    write_token: str | None = None

    def encode(self) -> bytes:
        """The stored form, tokens included."""
        return json.dumps({
            "version": 1, "id": self.id, "last-modified": self.last_modified,
            "read-token": self.read_token, "write-token": self.write_token,
            "urls": self.urls, "user-data": self.user,
        }).encode()

    def public(self) -> dict:
        """What GET /ddfs/tag/<tag> shows: never the tokens."""
        return {"version": 1, "id": self.id, "last-modified": self.last_modified,
                "urls": self.urls, "user-data": self.user}


def decode_tag(data: bytes) -> TagContent:
    """Parse a stored tag version; ValueError when corrupt."""
    obj = json.loads(data)
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise ValueError("tag object without an id")
    urls = obj.get("urls", [])
    if not valid_urls(urls):
        raise ValueError("tag object with invalid urls")
    return TagContent(id=obj["id"], last_modified=str(obj.get("last-modified", "")), urls=urls,
                      user=dict(obj.get("user-data") or {}), read_token=obj.get("read-token"),
                      write_token=obj.get("write-token"))


def new_version(tag: str, old: TagContent | None, micros: int, **changes: Any) -> TagContent:
    """A new version of `tag` (fresh id and last-modified) with `changes` applied."""
    base = old or TagContent(id="", last_modified="")
    return replace(base, id=pack_objname(tag, micros),
                   last_modified=format_last_modified(micros / 1_000_000), **changes)


def valid_urls(urls: Any) -> bool:
    """A list of replica lists of strings (Disco's validate_urls)."""
    return isinstance(urls, list) and all(
        isinstance(reps, list) and all(isinstance(u, str) for u in reps) for reps in urls)


def merge_urls(new: list, old: list | None, update: bool) -> tuple[bool, list]:
    """Disco's merge: returns ``(changed, merged)``.

    Plain append prepends the new replica sets.  ``update`` ("set" semantics) drops new sets whose
    blob name (text before ``$`` of the first URL) is already present or repeated; as in Disco's
    ``find_unseen`` the kept new sets end up in front in reverse arrival order.  An empty update
    of an existing tag changes nothing, so no new version (same id) is written.
    """
    if old is None:
        if not update:
            return True, list(new)
        changed, merged = _find_unseen(new, set(), [])
        return True, merged
    if not update:
        return (True, list(new) + list(old)) if new else (False, old)
    seen = {url_to_name(reps[0]) for reps in old if reps}
    return _find_unseen(new, seen, list(old))


def _find_unseen(new: list, seen: set, urls: list) -> tuple[bool, list]:
    changed = False
    front: list = []
    for reps in new:
        if not reps:
            front.append(reps)
            changed = True
            continue
        name = url_to_name(reps[0])
        if name not in seen:
            seen.add(name)
            front.append(reps)
            changed = True
    front.reverse()
    return changed, front + urls


def check_token(kind: str, token: Any, read_token: str | None,
                write_token: str | None) -> str | None:
    """Disco's check_token: the privilege ("read"/"write") `token` grants, or None.

    No tokens set -> open.  The write token grants write and read; the read token grants read;
    with only a write token set, reads are open.  The master's INTERNAL token always passes.
    """
    def matches(current: str | None) -> bool:
        return token is INTERNAL or current is None or token == current

    write_ok = matches(write_token)
    if kind == "write":
        return "write" if write_ok else None
    if matches(read_token):
        if write_token is None or write_token == read_token:
            return "write"
        return "write" if write_ok and token is not None else "read"
    if write_token is None:
        return None
    return "write" if write_ok else None


def authorize(kind: str, token: Any, tag: TagContent | None) -> str:
    """Raise Unauthorized unless `token` grants `kind` on `tag` (a missing tag is open)."""
    if tag is None:
        return "write"
    privilege = check_token(kind, token, tag.read_token, tag.write_token)
    if privilege is None:
        raise Unauthorized()
    return privilege


def get_attribute(tag: TagContent, attr: str, privilege: str) -> Any:
    """The value GET /ddfs/tag/<tag>/<attr> returns."""
    if attr == "ddfs:urls":
        return tag.urls
    if attr == "ddfs:read-token":
        return tag.read_token
    if attr == "ddfs:write-token":
        if privilege != "write":
            raise Unauthorized()
        return tag.write_token
    if attr.startswith("ddfs:") or attr not in tag.user:
        raise AttributeNotFound()
    return tag.user[attr]


def validate_attribute(attr: str, body_size: int, value: Any) -> None:
    """Disco's limits on PUT /ddfs/tag/<tag>/<attr>."""
    if attr in ("ddfs:read-token", "ddfs:write-token"):
        if not isinstance(value, str):
            raise InvalidAttribute()
        return
    if attr == "ddfs:urls":
        if not valid_urls(value):
            raise InvalidUrlObject()
        return
    if attr.startswith("ddfs:"):
        raise AttributeNotFound()
    if len(attr.encode()) > MAX_ATTR_NAME:
        raise InvalidAttribute("Attribute name too big.")
    if body_size > MAX_ATTR_VALUE:
        raise InvalidAttribute("Attribute value too big.")


def put_attribute(tag: str, old: TagContent | None, attr: str, value: Any, token: Any,
                  micros: int) -> TagContent:
    """A new version with attribute `attr` set (tokens, urls or a user attribute).

    Creating a tag while presenting a token makes it the tag's read and write token (Disco).
    """
    changes: dict[str, Any] = {}
    if old is None and isinstance(token, str) and token:
        changes.update(read_token=token, write_token=token)
    if attr == "ddfs:read-token":
        changes["read_token"] = value
    elif attr == "ddfs:write-token":
        changes["write_token"] = value
    elif attr == "ddfs:urls":
        changes["urls"] = value
    else:
        user = dict(old.user) if old else {}
        if attr not in user and len(user) >= MAX_ATTRS:
            raise TooManyAttributes()
        user[attr] = value
        changes["user"] = user
    return new_version(tag, old, micros, **changes)


def delete_attribute(tag: str, old: TagContent, attr: str, micros: int) -> TagContent | None:
    """A new version without `attr`; None when there is nothing to delete."""
    if attr == "ddfs:read-token":
        return new_version(tag, old, micros, read_token=None)
    if attr == "ddfs:write-token":
        return new_version(tag, old, micros, write_token=None)
    if attr == "ddfs:urls":
        return new_version(tag, old, micros, urls=[])
    if attr.startswith("ddfs:"):
        raise AttributeNotFound()
    if attr not in old.user:
        return None
    user = {k: v for k, v in old.user.items() if k != attr}
    return new_version(tag, old, micros, user=user)


def initial_tokens(token: Any) -> dict:
    """Creating a tag by a tag update while presenting a token sets both tokens."""
    if isinstance(token, str) and token:
        return {"read_token": token, "write_token": token}
    return {}
