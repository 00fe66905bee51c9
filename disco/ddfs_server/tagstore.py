"""The DDFS master's tag state: which tags exist where, their contents, and every change.

Tags live on the nodes (Disco's layout); the master keeps an index ``name -> newest version and
the hosts holding it``, rebuilt from the nodes whenever a node (re)connects, and a cache of tag
contents.  Every change of one tag runs under that tag's lock, so concurrent updates never lose a
URL.  Deleted tags are listed in the ``+deleted`` metatag, as in Disco.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from disco.ddfs_server import tags as tagmodel
from disco.ddfs_server.config import DdfsConfig
from disco.ddfs_server.names import (DELETED_TAG, Clock, object_relpath, object_url,
                                     parse_objname, parse_timestamp)
from disco.ddfs_server.nodeclient import NodeCallFailed, NodeClient
from disco.ddfs_server.placement import Candidate, NotEnoughNodes, choose_nodes

log = logging.getLogger(__name__)


@dataclass
class TagLocation:
    """Newest known version of a tag and where it is stored (host -> volume)."""

    micros: int
    ts: str
    replicas: dict[str, str] = field(default_factory=dict)


def writable(node: Any) -> bool:
    return bool(node.connected) and not node.blacklisted and not node.gc_blacklisted


def candidate(node: Any) -> Candidate:
    return Candidate(node.host, int(node.disk_free or 0), int(node.disk_used or 0))


class TagStore:
    """Index, cache, locks and the write path of tags."""

    def __init__(self, config: DdfsConfig, nodes: Callable[[], list], client: NodeClient,
                 rng: random.Random) -> None:
        self.config, self._nodes, self.client, self.rng = config, nodes, client, rng
        self.clock = Clock()
        self.index: dict[str, TagLocation] = {}
        self.cache: dict[str, tagmodel.TagContent] = {}
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.scanned: set[str] = set()
        #: hosts scanned at least once by this master (the index holds their tags)
        self.ever_scanned: set[str] = set()
        self.deleted_at: dict[str, float] = {}
        #: blob names tagged since the current GC snapshot (GC never deletes them)
        self.recently_tagged: set[str] = set()
        self._scan_lock = asyncio.Lock()
        self._delayed: dict[tuple[str, bool], list] = {}

    # -- nodes ------------------------------------------------------------------------------
    def nodes(self) -> dict[str, Any]:
        return {n.host: n for n in self._nodes()}

    def put_url(self, host: str) -> str | None:
        node = self.nodes().get(host)
        return node.put_url if node is not None else None

    async def refresh(self) -> None:
        """Scan newly connected nodes' tag lists into the index (the restart rebuild)."""
        async with self._scan_lock:
            nodes = self.nodes()
            self.scanned &= {h for h, n in nodes.items() if n.connected}
            todo = [n for h, n in nodes.items() if n.connected and h not in self.scanned]
            results = await asyncio.gather(*(self._scan_node(n) for n in todo))
            for node, found in zip(todo, results):
                if found is not None:
                    self._merge(node.host, found)
                    self.scanned.add(node.host)
                    self.ever_scanned.add(node.host)
            if todo:
                await self._load_deleted()

    async def _scan_node(self, node: Any) -> dict | None:
        try:
            reply = await self.client.call("GET", f"{node.put_url}/ddfs/internal/tags")
            return reply["tags"]
        except NodeCallFailed as exc:
            log.warning("ddfs: cannot list tags of %s: %s", node.host, exc)
            return None

    def _merge(self, host: str, found: dict) -> None:
        for name, (ts, volume) in found.items():
            micros = parse_timestamp(ts)
            self.clock.observe(micros)
            loc = self.index.get(name)
            if loc is None or micros > loc.micros:
                self.index[name] = TagLocation(micros, ts, {host: volume})
                self.cache.pop(name, None)
            elif micros == loc.micros:
                loc.replicas[host] = volume

    def _unscanned(self) -> bool:
        return any(n.connected and h not in self.scanned for h, n in self.nodes().items())

    # -- reading ----------------------------------------------------------------------------
    def is_deleted(self, name: str) -> bool:
        return name != DELETED_TAG and name in self.deleted_at

    def live_names(self) -> list[str]:
        return sorted(n for n in self.index if n != DELETED_TAG and not self.is_deleted(n))

    def failed_nodes(self) -> list[str]:
        """Hosts whose tags the master cannot see now: not connected, or their tag scan
        failed (Disco: read-blacklisted nodes plus nodes whose call failed)."""
        return sorted(h for h, n in self.nodes().items()
                      if not n.connected or h not in self.scanned)

    def quorum_ok(self) -> bool:
        """Disco's rule: tags are safe to read while fewer than DDFS_TAG_MIN_REPLICAS nodes
        are unreachable."""
        return len(self.failed_nodes()) < self.config.ddfs_tag_min_replicas

    def check_quorum(self, message: str | None = None) -> None:
        """Raise TooManyFailedNodes unless :meth:`quorum_ok`."""
        if not self.quorum_ok():
            log.warning("ddfs: refusing a tag read: nodes unreachable: %s (DDFS_TAG_MIN_REPLICAS"
                        "=%d)", ", ".join(self.failed_nodes()), self.config.ddfs_tag_min_replicas)
            raise tagmodel.TooManyFailedNodes(message)

    def _index_complete(self) -> bool:
        return all(h in self.ever_scanned for h in self.nodes())

    async def load(self, name: str, check: bool = False) -> tagmodel.TagContent | None:
        """The current content of a tag, None if it does not exist (or is deleted).

        With `check` (client requests), reading a tag from the nodes follows Disco's
        DDFS_TAG_MIN_REPLICAS rule (:meth:`check_quorum`), as Disco's tag server did when it
        loaded a tag: a cached tag is served, and a name missing from a complete index is
        "not found" without asking the nodes.
        """
        if self._unscanned():
            await self.refresh()     # e.g. just after a master restart
        if self.is_deleted(name):
            return None
        if name in self.cache:
            return self.cache[name]
        loc = self.index.get(name)
        if loc is None:
            if check and not self._index_complete():
                self.check_quorum()
            return None
        if check:
            self.check_quorum()
        content = await self._fetch(name, loc)
        self.cache[name] = content
        return content

    async def _fetch(self, name: str, loc: TagLocation) -> tagmodel.TagContent:
        objname = f"{name}${loc.ts}"
        hosts = list(loc.replicas.items())
        self.rng.shuffle(hosts)
        for host, volume in hosts:
            base = self.put_url(host)
            node = self.nodes().get(host)
            if base is None or node is None or not node.connected:
                continue
            url = f"{base}/ddfs/internal/file/{object_relpath('tag', objname, volume)}"
            try:
                return tagmodel.decode_tag(await self.client.read(url))
            except (NodeCallFailed, ValueError) as exc:
                log.warning("ddfs: tag %s unreadable on %s: %s", objname, host, exc)
        raise tagmodel.Busy(
            f"Temporary server error. Try again. (no replica of tag {name} reachable)")

    def locations(self, name: str) -> list[str]:
        loc = self.index.get(name)
        if loc is None:
            return []
        objname = f"{name}${loc.ts}"
        return [object_url(h, "tag", objname, v) for h, v in sorted(loc.replicas.items())]

    # -- writing ----------------------------------------------------------------------------
    async def write(self, name: str, content: tagmodel.TagContent,
                    prefer: Iterable[str] = ()) -> list[str]:
        """Store a new version on DDFS_TAG_REPLICAS nodes; returns the replica URLs."""
        data = content.encode()
        objname = content.id
        stored: dict[str, str] = {}
        tried: set[str] = set()
        want = self.config.ddfs_tag_replicas
        while len(stored) < want:
            hosts = self._choose_tag_nodes(want - len(stored), tried, prefer)
            if not hosts:
                break
            tried.update(hosts)
            results = await asyncio.gather(*(self.put_tag(h, objname, data) for h in hosts))
            stored.update({h: vol for h, vol in zip(hosts, results) if vol})
        if len(stored) < max(1, min(self.config.ddfs_tag_min_replicas, want)):
            raise tagmodel.ReplicationFailed()
        self.index[name] = TagLocation(parse_objname(objname).micros,
                                       parse_objname(objname).ts, stored)
        self.cache[name] = content
        return self.locations(name)

    def _choose_tag_nodes(self, k: int, tried: set[str], prefer: Iterable[str]) -> list[str]:
        pool = [candidate(n) for n in self.nodes().values() if writable(n)]
        pool = [c for c in pool if c.host not in tried]
        k = min(k, len(pool))
        if k <= 0:
            return []
        try:
            return choose_nodes(pool, k, include=[p for p in prefer if p not in tried],
                                rng=self.rng)
        except NotEnoughNodes:
            return []

    async def put_tag(self, host: str, objname: str, data: bytes) -> str | None:
        base = self.put_url(host)
        try:
            reply = await self.client.call("PUT", f"{base}/ddfs/internal/tag/{objname}",
                                           data=data)
            return reply["url"].split("/ddfs/", 1)[1].split("/", 1)[0]
        except (NodeCallFailed, KeyError, IndexError, TypeError) as exc:
            log.warning("ddfs: writing tag %s to %s failed: %s", objname, host, exc)
            return None

    def new_micros(self) -> int:
        return self.clock.now()

    # -- operations (each under the tag's lock) ---------------------------------------------
    async def update(self, name: str, urls: list, token: Any, update: bool) -> list[str]:
        async with self.locks[name]:
            return await self._update_locked(name, urls, token, update)

    async def _update_locked(self, name: str, urls: list, token: Any, update: bool) -> list[str]:
        old = await self.load(name, check=token is not tagmodel.INTERNAL)
        tagmodel.authorize("write", token, old)
        changed, merged = tagmodel.merge_urls(urls, old.urls if old else None, update)
        self._note_tagged(urls)
        if not changed:
            return self.locations(name)
        extra = tagmodel.initial_tokens(token) if old is None else {}
        content = tagmodel.new_version(name, old, self.new_micros(), urls=merged, **extra)
        result = await self.write(name, content)
        if old is None:
            await self.undelete(name)
        return result

    async def update_delayed(self, name: str, urls: list, token: Any, update: bool) -> list[str]:
        """Batch updates arriving within DDFS_DELAYED_FLUSH seconds into one new version."""
        async with self.locks[name]:
            old = await self.load(name, check=True)
            if old is None:
                return await self._update_locked(name, urls, token, update)
            tagmodel.authorize("write", token, old)
        key = (name, update)
        waiter = asyncio.get_running_loop().create_future()
        batch = self._delayed.get(key)
        if batch is None:
            batch = self._delayed[key] = []
            asyncio.get_running_loop().call_later(
                self.config.ddfs_delayed_flush,
                lambda: asyncio.ensure_future(self._flush_delayed(key)))
        batch.append((urls, waiter))
        return await waiter

    async def _flush_delayed(self, key: tuple[str, bool]) -> None:
        batch = self._delayed.pop(key, [])
        combined: list = []
        for urls, _waiter in batch:
            combined = list(urls) + combined
        try:
            result = await self.update(key[0], combined, tagmodel.INTERNAL, key[1])
        except Exception as exc:  # loop boundary: every waiter gets the failure
            for _urls, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for _urls, waiter in batch:
            if not waiter.done():
                waiter.set_result(result)

    def _note_tagged(self, urls: list) -> None:
        for reps in urls:
            for url in reps:
                self.recently_tagged.add(url.rstrip("/").split("/")[-1])

    async def put_attr(self, name: str, attr: str, value: Any, token: Any) -> list[str]:
        async with self.locks[name]:
            old = await self.load(name, check=True)
            tagmodel.authorize("write", token, old)
            if attr == "ddfs:urls":
                self._note_tagged(value)
            content = tagmodel.put_attribute(name, old, attr, value, token, self.new_micros())
            result = await self.write(name, content)
            if old is None:
                await self.undelete(name)
            return result

    async def delete_attr(self, name: str, attr: str, token: Any) -> None:
        async with self.locks[name]:
            old = await self.load(name, check=True)
            if old is None:
                raise tagmodel.TagNotFound()
            tagmodel.authorize("write", token, old)
            content = tagmodel.delete_attribute(name, old, attr, self.new_micros())
            if content is not None:
                await self.write(name, content)

    async def delete(self, name: str, token: Any) -> None:
        async with self.locks[name]:
            old = await self.load(name, check=True)
            if old is None:
                return
            tagmodel.authorize("write", token, old)
            await self._change_deleted(add=[name])
            self.cache.pop(name, None)

    async def get(self, name: str, token: Any) -> tuple[tagmodel.TagContent, str]:
        content = await self.load(name, check=True)
        if content is None:
            raise tagmodel.TagNotFound()
        return content, tagmodel.authorize("read", token, content)

    # -- +deleted ---------------------------------------------------------------------------
    async def _load_deleted(self) -> None:
        content = await self.load_raw(DELETED_TAG)
        if content is None:
            self.deleted_at = {}
            return
        stamps = content.user.get("deleted_at", {}) if isinstance(content.user, dict) else {}
        names = [reps[0][len("tag://"):] for reps in content.urls if reps]
        now = time.time()
        self.deleted_at = {n: float(stamps.get(n, now)) for n in names}

    async def load_raw(self, name: str) -> tagmodel.TagContent | None:
        if name in self.cache:
            return self.cache[name]
        loc = self.index.get(name)
        if loc is None:
            return None
        try:
            content = await self._fetch(name, loc)
        except tagmodel.Busy:
            log.warning("ddfs: %s unreadable; keeping the previous deleted list", name)
            return None
        self.cache[name] = content
        return content

    async def undelete(self, name: str) -> None:
        if name in self.deleted_at:
            await self._change_deleted(remove=[name])

    async def _change_deleted(self, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        async with self.locks[DELETED_TAG]:
            stamps = dict(self.deleted_at)
            for name in add:
                stamps.setdefault(name, time.time())
            for name in remove:
                stamps.pop(name, None)
            old = await self.load_raw(DELETED_TAG)
            urls = [[f"tag://{n}"] for n in sorted(stamps)]
            content = tagmodel.new_version(DELETED_TAG, old, self.new_micros(), urls=urls,
                                    user={"deleted_at": stamps})
            await self.write(DELETED_TAG, content)
            self.deleted_at = stamps

    async def purge_deleted(self, names: Iterable[str]) -> None:
        names = [n for n in names if n in self.deleted_at]
        if names:
            await self._change_deleted(remove=names)
