"""DDFS garbage collection, re-replication and rebalancing (layer 2; run by the DDFS master).

One run, as Disco's ``ddfs_gc_main``: nodes scan their volumes (dropping stale ``!partial``
uploads); the master snapshots every live tag and the blobs they reference (aborting when a tag
cannot be read); unreferenced blobs and old tag versions past DDFS_ORPHAN_GRACE are deleted (only
when every node answered, so data held by an unreachable node's tags is never judged orphaned);
blobs and tags below their replica counts are copied node to node (replicas on DDFS-blacklisted
nodes don't count); over-full nodes shed blobs; tags are rewritten to point at live replicas.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from disco.ddfs_server import tags as tagmodel
from disco.ddfs_server.config import DdfsConfig
from disco.ddfs_server.names import (DELETED_TAG, InvalidName, object_relpath, object_url,
                                     parse_ddfs_url, parse_objname)
from disco.ddfs_server.nodeclient import NodeCallFailed, NodeClient
from disco.ddfs_server.placement import Candidate, choose_nodes, rebalance_sources, utilisation
from disco.ddfs_server.tagstore import TagStore, writable
from disco.error import DiscoError

log = logging.getLogger(__name__)


class GcAborted(DiscoError):
    """The snapshot was incomplete; nothing was deleted."""


@dataclass
class Snapshot:
    """What one GC run saw."""

    objects: dict[str, list] = field(default_factory=dict)       # host -> scan entries
    disk: dict[str, tuple[int, int]] = field(default_factory=dict)
    blobs: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    referenced: set[str] = field(default_factory=set)
    contents: dict[str, tagmodel.TagContent] = field(default_factory=dict)
    complete: bool = True


class GarbageCollector:
    """Runs GC on demand (`start`) and reports `status`, `stats`, `safe_blacklist`."""

    def __init__(self, config: DdfsConfig, tags: TagStore, client: NodeClient) -> None:
        self.config, self.tags, self.client = config, tags, client
        self.status = ""
        self.stats: dict | None = None
        self.safe_blacklist: set[str] = set()
        self._task: asyncio.Task | None = None
        self._again = False

    def start(self) -> bool:
        """Start a run; if one is running, schedule another after it ("GC is waiting")."""
        if self._task is not None and not self._task.done():
            self._again = True
            return False
        self._phase("start")  # gc_status shows the run from the moment gc_start answers
        self._task = asyncio.create_task(self._run_loop(), name="ddfs-gc-run")
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run_loop(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await self.run()
            except GcAborted as exc:
                log.warning("ddfs gc aborted: %s", exc)
            except Exception:  # loop boundary: a failed run must not kill the master
                log.exception("ddfs gc failed")
            finally:
                self.status = ""

    # -- one run ----------------------------------------------------------------------------
    async def run(self) -> None:
        started = time.time()
        self._phase("start")
        await self.tags.refresh()
        self.tags.recently_tagged = set()
        snap = await self._scan()
        self._phase("build_map")
        await self._build_map(snap)
        self._phase("gc")
        counts = await self._collect(snap) if snap.complete else _empty_counts(snap)
        self._phase("rr_blobs")
        moves = await self._rereplicate_blobs(snap)
        moves += await self._rebalance(snap)
        self._phase("rr_tags")
        await self._update_tags(snap, moves)
        await self._rereplicate_tags()
        await self._drop_moved(moves)
        self._compute_safe_blacklist(snap)
        self.stats = {"timestamp": tagmodel.format_last_modified(started), "stats": counts}
        log.info("ddfs gc done in %.1f s: %s", time.time() - started, counts)

    def _phase(self, name: str) -> None:
        self.status = f"GC is scanning DDFS (phase {name})." if name in (
            "start", "build_map") else f"GC is running (phase {name})."

    def _nodes(self) -> dict[str, Any]:
        return self.tags.nodes()

    async def _scan(self) -> Snapshot:
        snap = Snapshot()
        nodes = self._nodes()
        live = [n for n in nodes.values() if n.connected]
        snap.complete = len(live) == len(nodes)
        replies = await asyncio.gather(*(self._scan_node(n) for n in live))
        for node, reply in zip(live, replies):
            if reply is None:
                snap.complete = False
                continue
            snap.objects[node.host] = reply["objects"]
            snap.disk[node.host] = (reply["disk_free"], reply["disk_used"])
            for kind, volume, objname, _size, _mtime in reply["objects"]:
                if kind == "blob":
                    snap.blobs[objname][node.host] = volume
        return snap

    async def _scan_node(self, node: Any) -> dict | None:
        try:
            return await self.client.call(
                "POST", f"{node.put_url}/ddfs/internal/scan",
                json_body={"partial_grace": self.config.ddfs_partial_grace})
        except NodeCallFailed as exc:
            log.warning("ddfs gc: scan of %s failed: %s", node.host, exc)
            return None

    async def _build_map(self, snap: Snapshot) -> None:
        for name in self.tags.live_names():
            try:
                content = await self.tags.load(name)
            except tagmodel.TagError as exc:
                raise GcAborted(f"tag {name} unreadable: {exc}") from exc
            if content is None:
                continue
            snap.contents[name] = content
            for reps in content.urls:
                for url in reps:
                    parsed = parse_ddfs_url(url)
                    if parsed is not None and parsed.kind == "blob":
                        snap.referenced.add(parsed.objname)

    # -- deleting ---------------------------------------------------------------------------
    async def _collect(self, snap: Snapshot) -> dict:
        now = time.time()
        grace = self.config.ddfs_orphan_grace
        counts = _empty_counts(snap)
        doomed: dict[str, list] = defaultdict(list)
        for host, objects in snap.objects.items():
            for kind, volume, objname, size, mtime in objects:
                if self._is_garbage(kind, objname, snap) and now - mtime > grace:
                    doomed[host].append([kind, volume, objname])
                    _move_count(counts, kind, size)
        await asyncio.gather(*(self._delete(h, objs) for h, objs in doomed.items()))
        for host, objs in doomed.items():
            for kind, _vol, objname in objs:
                if kind == "blob":
                    snap.blobs.get(objname, {}).pop(host, None)
        await self._purge_deleted(snap, doomed)
        return counts

    def _is_garbage(self, kind: str, objname: str, snap: Snapshot) -> bool:
        if kind == "blob":
            return objname not in snap.referenced and objname not in self.tags.recently_tagged
        try:
            parsed = parse_objname(objname)
        except InvalidName:
            return False
        loc = self.tags.index.get(parsed.name)
        if self.tags.is_deleted(parsed.name):
            return True
        return loc is not None and parsed.micros < loc.micros

    async def _delete(self, host: str, objects: list) -> None:
        base = self.tags.put_url(host)
        # double-check against tags written since the snapshot (Disco asks the master too)
        objects = [o for o in objects if o[2] not in self.tags.recently_tagged]
        try:
            await self.client.call("POST", f"{base}/ddfs/internal/delete",
                                   json_body={"objects": objects,
                                              "paranoid": self.config.ddfs_paranoid_delete})
        except NodeCallFailed as exc:
            log.warning("ddfs gc: deleting on %s failed: %s", host, exc)

    async def _purge_deleted(self, snap: Snapshot, doomed: dict[str, list]) -> None:
        """Forget `+deleted` entries past DDFS_DELETED_GRACE once no node holds their files."""
        gone = {o[2] for objs in doomed.values() for o in objs}
        remaining = {parse_objname(o[2]).name for objs in snap.objects.values() for o in objs
                     if o[0] == "tag" and o[2] not in gone}
        now = time.time()
        expired = [n for n, at in self.tags.deleted_at.items()
                   if now - at > self.config.ddfs_deleted_grace and n not in remaining]
        await self.tags.purge_deleted(expired)

    # -- re-replication -----------------------------------------------------------------------
    def _good_hosts(self) -> set[str]:
        return {h for h, n in self._nodes().items() if n.connected and not n.gc_blacklisted}

    def _live_copies(self, objname: str, snap: Snapshot) -> dict[str, str]:
        good = self._good_hosts()
        return {h: v for h, v in snap.blobs.get(objname, {}).items() if h in good}

    async def _rereplicate_blobs(self, snap: Snapshot) -> list:
        want = self.config.ddfs_blob_replicas
        jobs = []
        for objname in sorted(snap.referenced):
            copies = snap.blobs.get(objname, {})
            live = self._live_copies(objname, snap)
            if not copies or len(live) >= want:
                if not copies:
                    log.warning("ddfs gc: blob %s has no reachable replica", objname)
                continue
            targets = self._targets(want - len(live), exclude=set(copies))
            source_host = next(iter(live or copies))
            for target in targets:
                jobs.append(self._copy("blob", objname, source_host, copies[source_host],
                                       target, snap))
        await _bounded(jobs, 8)
        return []

    def _targets(self, k: int, exclude: set[str], hosts: list[str] | None = None) -> list[str]:
        pool = [Candidate(n.host, int(n.disk_free or 0), int(n.disk_used or 0))
                for n in self._nodes().values() if writable(n) and n.host not in exclude
                and (hosts is None or n.host in hosts)]
        k = min(k, len(pool))
        return choose_nodes(pool, k, rng=self.tags.rng) if k > 0 else []

    async def _copy(self, kind: str, objname: str, source: str, volume: str, target: str,
                    snap: Snapshot | None) -> bool:
        src = f"{self.tags.put_url(source)}/ddfs/internal/file/" \
              f"{object_relpath(kind, objname, volume)}"
        try:
            reply = await self.client.call(
                "POST", f"{self.tags.put_url(target)}/ddfs/internal/replicate",
                json_body={"kind": kind, "objname": objname, "source": src})
        except NodeCallFailed as exc:
            log.warning("ddfs gc: copying %s %s from %s to %s failed: %s", kind, objname,
                        source, target, exc)
            return False
        if snap is not None:
            new_vol = reply["url"].split("/ddfs/", 1)[1].split("/", 1)[0]
            snap.blobs[objname][target] = new_vol
        return True

    async def _rebalance(self, snap: Snapshot) -> list:
        """Move blobs off nodes above average utilisation + DDFS_GC_BALANCE_THRESHOLD."""
        good = self._good_hosts()
        cands = [Candidate(h, *snap.disk[h]) for h in snap.disk if h in good]
        over, under = rebalance_sources(cands, self.config.ddfs_gc_balance_threshold)
        if not over or not under:
            return []
        by_host = {c.host: c for c in cands}
        average = sum(utilisation(c) for c in cands) / len(cands)
        moves: list = []
        for host in over:
            moves += await self._shed(host, by_host[host], average, under, snap)
        return moves

    async def _shed(self, host: str, cand: Candidate, average: float, under: list[str],
                    snap: Snapshot) -> list:
        total = cand.disk_free + cand.disk_used
        excess_kb = (utilisation(cand) - average) * total
        moves: list = []
        for kind, volume, objname, size, _mtime in snap.objects.get(host, []):
            if excess_kb <= 0 or len(moves) >= self.config.ddfs_rebalance_max_blobs:
                break
            if kind != "blob" or objname not in snap.referenced:
                continue
            targets = self._targets(1, exclude=set(snap.blobs[objname]), hosts=under)
            if targets and await self._copy("blob", objname, host, volume, targets[0], snap):
                moves.append((host, volume, objname))
                snap.blobs[objname].pop(host, None)
                excess_kb -= size / 1024
        return moves

    async def _update_tags(self, snap: Snapshot, moves: list) -> None:
        """Rewrite tags whose blob sets differ from the live replicas found."""
        for name, content in snap.contents.items():
            if _rewrite_urls(content.urls, snap, self._good_hosts()) != content.urls:
                async with self.tags.locks[name]:
                    await self._rewrite_tag(name, snap)

    async def _rewrite_tag(self, name: str, snap: Snapshot) -> None:
        current = await self.tags.load(name)
        if current is None:
            return
        urls = _rewrite_urls(current.urls, snap, self._good_hosts())
        if urls != current.urls:
            content = tagmodel.new_version(name, current, self.tags.new_micros(), urls=urls)
            await self.tags.write(name, content)

    async def _rereplicate_tags(self) -> None:
        want = self.config.ddfs_tag_replicas
        good = self._good_hosts()
        for name in list(self.tags.index):
            loc = self.tags.index[name]
            live = [h for h in loc.replicas if h in good]
            if len(live) >= want or self.tags.is_deleted(name):
                continue
            async with self.tags.locks[name]:
                await self._copy_tag(name, want - len(live))

    async def _copy_tag(self, name: str, k: int) -> None:
        loc = self.tags.index.get(name)
        if name == DELETED_TAG:
            content = await self.tags.load_raw(name)
        else:
            content = await self.tags.load(name)
        if loc is None or content is None:
            return
        data = content.encode()
        for target in self._targets(k, exclude=set(loc.replicas)):
            volume = await self.tags.put_tag(target, content.id, data)
            if volume:
                loc.replicas[target] = volume

    async def _drop_moved(self, moves: list) -> None:
        by_host: dict[str, list] = defaultdict(list)
        for host, volume, objname in moves:
            by_host[host].append(["blob", volume, objname])
        await asyncio.gather(*(self._delete(h, objs) for h, objs in by_host.items()))

    def _compute_safe_blacklist(self, snap: Snapshot) -> None:
        """DDFS-blacklisted hosts none of whose referenced data depends on them any more."""
        want_blobs, want_tags = self.config.ddfs_blob_replicas, self.config.ddfs_tag_replicas
        safe = set()
        good = self._good_hosts()
        for host, node in self._nodes().items():
            if not node.gc_blacklisted:
                continue
            blobs_ok = all(len([h for h in snap.blobs.get(o, {}) if h in good]) >= want_blobs
                           for o in snap.referenced if host in snap.blobs.get(o, {}))
            tags_ok = all(len([h for h in loc.replicas if h in good]) >= want_tags
                          for loc in self.tags.index.values() if host in loc.replicas)
            if blobs_ok and tags_ok:
                safe.add(host)
        self.safe_blacklist = safe


def _rewrite_urls(urls: list, snap: Snapshot, good: set[str]) -> list:
    """Each DDFS blob set becomes the URLs of its live replicas (unchanged if none is live)."""
    result = []
    for reps in urls:
        parsed = parse_ddfs_url(reps[0]) if reps else None
        if parsed is None or parsed.kind != "blob":
            result.append(reps)
            continue
        live = {h: v for h, v in snap.blobs.get(parsed.objname, {}).items() if h in good}
        if not live:
            result.append(reps)
            continue
        existing = {u for u in reps if (p := parse_ddfs_url(u)) and p.host in live}
        fresh = {object_url(h, "blob", parsed.objname, v).replace("disco://",
                                                                   f"{parsed.scheme}://", 1)
                 for h, v in live.items()}
        kept = [u for u in reps if u in existing]
        kept_hosts = {parse_ddfs_url(u).host for u in kept}
        added = sorted(u for u in fresh if parse_ddfs_url(u).host not in kept_hosts)
        result.append(kept + added)
    return result


def _empty_counts(snap: Snapshot) -> dict:
    counts = {"Tags kept": [0, 0], "Tags deleted": [0, 0], "Blobs kept": [0, 0],
              "Blobs deleted": [0, 0]}
    for objects in snap.objects.values():
        for kind, _vol, _obj, size, _mtime in objects:
            key = "Blobs kept" if kind == "blob" else "Tags kept"
            counts[key][0] += 1
            counts[key][1] += size
    return counts


def _move_count(counts: dict, kind: str, size: int) -> None:
    """Move one object from "kept" to "deleted" in the stats."""
    prefix = "Blobs" if kind == "blob" else "Tags"
    counts[f"{prefix} kept"][0] -= 1
    counts[f"{prefix} kept"][1] -= size
    counts[f"{prefix} deleted"][0] += 1
    counts[f"{prefix} deleted"][1] += size


async def _bounded(coros: list, limit: int) -> list:
    semaphore = asyncio.Semaphore(limit)

    async def run(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))
