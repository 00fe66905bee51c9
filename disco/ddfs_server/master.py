"""DDFS master: the `/ddfs/...` routes inside the master process (layer 2, aiohttp).

Blob placement (`new_blob`), tag reads and changes (through :class:`TagStore`), the control
endpoints, the co-located node's files, and the background loop that scans (re)connected
nodes, runs GC periodically and starts re-replication when a node has been lost for
DDFS_NODE_LOSS_GRACE seconds.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import random
import time
from typing import Any

from aiohttp import web

from disco import httperrors
from disco.ddfs_server import tags as tagmodel
from disco.httpauth import URL_TOKEN
from disco.ddfs_server.config import DdfsConfig
from disco.ddfs_server.gc import GarbageCollector
from disco.ddfs_server.names import (DELETED_TAG, blob_prefix, format_timestamp, is_valid_name,
                                     tag_name_problem)
from disco.ddfs_server.nodeclient import NodeClient
from disco.ddfs_server.placement import NotEnoughNodes, choose_nodes
from disco.ddfs_server.tagstore import TagStore, candidate, writable
from disco.serving import serve_file
from disco.settings_table import config_of

log = logging.getLogger(__name__)


def parse_token(request: web.Request) -> str | None:
    """`Authorization: Basic base64("token:<TOKEN>")` -> TOKEN (anything else: no token)."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, token = decoded.partition(":")
    return token if sep and user == "token" else None


def flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "") not in ("", "0", "false")


def text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message)


class DdfsMaster:
    """The DDFS master's handlers and background work."""

    def __init__(self, config: Any, cluster: Any) -> None:
        """`config`: the master's typed Config (disco.settings_table)."""
        self.config = DdfsConfig.from_config(config)
        self.cluster = cluster
        seed = config.disco_scheduler_seed
        self.rng = random.Random(seed) if seed else random.Random()
        self.client = NodeClient(self.config.ddfs_node_timeout, config)
        self.tags = TagStore(self.config, cluster.nodes, self.client, self.rng)
        self.gc = GarbageCollector(self.config, self.tags, self.client)
        self._tasks: list[asyncio.Task] = []
        self._lost_since: dict[str, float] = {}

    # -- lifecycle --------------------------------------------------------------------------
    async def on_startup(self, _app: web.Application) -> None:
        self._tasks.append(asyncio.create_task(self._monitor(), name="ddfs-monitor"))
        self._tasks.append(asyncio.create_task(self._periodic_gc(), name="ddfs-gc"))

    async def on_cleanup(self, _app: web.Application) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.gc.stop()
        await self.client.close()

    async def _monitor(self) -> None:
        while True:
            try:
                await self.tags.refresh()
                self._check_lost_nodes()
            except Exception:  # loop boundary: keep monitoring
                log.exception("ddfs monitor failed")
            await asyncio.sleep(self.config.ddfs_monitor_interval)

    def _check_lost_nodes(self) -> None:
        """A node gone for DDFS_NODE_LOSS_GRACE seconds holding data -> re-replicate now."""
        now = time.monotonic()
        for node in self.cluster.nodes():
            if node.connected:
                self._lost_since.pop(node.host, None)
                continue
            since = self._lost_since.setdefault(node.host, now)
            if since and now - since > self.config.ddfs_node_loss_grace:
                self._lost_since[node.host] = 0.0     # once per loss
                log.warning("ddfs: node %s lost; starting GC to re-replicate", node.host)
                self.gc.start()

    async def _periodic_gc(self) -> None:
        await asyncio.sleep(self.config.ddfs_gc_initial_wait * 60)
        while True:
            self.gc.start()
            await asyncio.sleep(self.config.ddfs_gc_interval)

    # -- blobs ------------------------------------------------------------------------------
    async def new_blob(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not is_valid_name(name):
            return text(403, "Invalid prefix.")
        try:
            k = int(request.query.get("replicas") or self.config.ddfs_blob_replicas)
        except ValueError:
            return text(403, "Invalid replicas.")
        if k <= 0:
            return text(403, "Invalid replicas: ask for at least one.")
        include = [h for h in request.query.get("include", "").split(",") if h]
        exclude = [h for h in request.query.get("exclude", "").split(",") if h]
        nodes = [n for n in self.cluster.nodes() if writable(n)]
        hosts = {n.host for n in nodes}
        if any(h not in hosts for h in include):
            return text(403, "Requested Replica not found.")
        try:
            chosen = choose_nodes([candidate(n) for n in nodes], k, include=include,
                                  exclude=exclude, space_aware=self.config.ddfs_space_aware,
                                  absolute_space=self.config.ddfs_absolute_space, rng=self.rng)
        except NotEnoughNodes:
            return text(403, "Not enough nodes for replicas.")
        objname = f"{blob_prefix(name)}${format_timestamp(self.tags.new_micros())}"
        by_host = {n.host: n for n in nodes}
        # a client that authenticated with a URL token (Disco 0.5.4's) uploads with it too
        prefix = request.get(URL_TOKEN, "")
        return web.json_response([f"{by_host[h].put_url}{prefix}/ddfs/{objname}"
                                  for h in chosen])

    async def serve_local(self, request: web.Request) -> web.StreamResponse:
        """GET/HEAD /ddfs/<path> of the node co-located with the master."""
        root = self._local_root()
        if root is None:
            return text(404, "No DDFS data on the master host.")
        return await serve_file(request, root, request.match_info["path"],
                              volume_links=True)

    def _local_root(self) -> str | None:
        for node in self.cluster.nodes():
            if getattr(node, "ddfs_data", None):
                return node.ddfs_data
        return None

    # -- tags -------------------------------------------------------------------------------
    async def list_tags(self, request: web.Request) -> web.Response:
        prefix = request.match_info.get("prefix", "").strip("/")
        await self.tags.refresh()
        self.tags.check_quorum(tagmodel.LISTING_REFUSED)
        return web.json_response([n for n in self.tags.live_names() if n.startswith(prefix)])

    async def get_tag(self, request: web.Request) -> web.Response:
        name, attr = self._tag_and_attr(request, allow_internal=True)
        content, privilege = await self.tags.get(name, parse_token(request))
        if attr is None:
            return web.json_response(content.public())
        return web.json_response(tagmodel.get_attribute(content, attr, privilege))

    async def post_tag(self, request: web.Request) -> web.Response:
        name, attr = self._tag_and_attr(request)
        if attr is not None:
            return text(404, "Tag attribute not found.")
        urls = await self._json_body(request)
        if not tagmodel.valid_urls(urls):
            raise tagmodel.InvalidUrlObject()
        token, update = parse_token(request), flag(request, "update")
        if flag(request, "delayed"):
            result = await self.tags.update_delayed(name, urls, token, update)
        else:
            result = await self.tags.update(name, urls, token, update)
        return web.json_response(result)

    async def put_tag(self, request: web.Request) -> web.Response:
        name, attr = self._tag_and_attr(request)
        attr = attr or "ddfs:urls"
        raw = await self._read_body(request)
        value = self._decode(raw)
        tagmodel.validate_attribute(attr, len(raw), value)
        result = await self.tags.put_attr(name, attr, value, parse_token(request))
        return web.json_response(result)

    async def put_tag_urls(self, name: str, urls: list) -> None:
        """Set tag `name`'s urls as `PUT /ddfs/tag/<name>` with no token does (the master's own
        tags, e.g. a job's saved results); raises a TagError as that request would answer."""
        problem = tag_name_problem(name)
        if problem is not None:
            raise tagmodel.InvalidTag(problem)
        tagmodel.validate_attribute("ddfs:urls", len(json.dumps(urls)), urls)
        await self.tags.put_attr(name, "ddfs:urls", urls, None)

    async def delete_tag(self, request: web.Request) -> web.Response:
        name, attr = self._tag_and_attr(request)
        if attr is None:
            await self.tags.delete(name, parse_token(request))
        else:
            await self.tags.delete_attr(name, attr, parse_token(request))
        return web.json_response("deleted")

    def _tag_and_attr(self, request: web.Request,
                      allow_internal: bool = False) -> tuple[str, str | None]:
        name = request.match_info["tag"]
        attr = request.match_info.get("attr") or None
        if allow_internal and name == DELETED_TAG:
            problem = None
        else:
            problem = tag_name_problem(name)
        if problem is not None:
            raise tagmodel.InvalidTag(problem)
        if attr is not None and (len(attr.encode()) > tagmodel.MAX_ATTR_NAME or "/" in attr):
            raise tagmodel.InvalidAttribute("Attribute name too big.")
        return name, attr

    async def _read_body(self, request: web.Request) -> bytes:
        if (request.content_length or 0) > self.config.ddfs_max_tag_body:
            raise tagmodel.InvalidBody("Invalid request.")
        body = await request.content.read(self.config.ddfs_max_tag_body + 1)
        if len(body) > self.config.ddfs_max_tag_body:
            raise tagmodel.InvalidBody("Invalid request.")
        return body

    async def _json_body(self, request: web.Request) -> Any:
        return self._decode(await self._read_body(request))

    @staticmethod
    def _decode(raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            raise tagmodel.InvalidBody() from None

    # -- control ----------------------------------------------------------------------------
    async def gc_start(self, _request: web.Request) -> web.Response:
        started = self.gc.start()
        return web.json_response("GC has started" if started else "GC is waiting")

    async def gc_status(self, _request: web.Request) -> web.Response:
        return web.json_response(self.gc.status)

    async def gc_stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.gc.stats or "")

    async def safe_gc_blacklist(self, _request: web.Request) -> web.Response:
        return web.json_response(sorted(self.gc.safe_blacklist))

    async def hosted_tags(self, request: web.Request) -> web.Response:
        host = await self._json_body(request)
        if not isinstance(host, str):
            raise tagmodel.InvalidBody()
        await self.tags.refresh()
        names = [n for n in self.tags.live_names() if host in self.tags.index[n].replicas]
        return web.json_response(names)


def add_routes(app: web.Application, ddfs: DdfsMaster) -> None:
    r = app.router
    r.add_get("/ddfs/new_blob/{name}", ddfs.new_blob)
    r.add_get("/ddfs/tags", ddfs.list_tags)
    r.add_get("/ddfs/tags/{prefix:.*}", ddfs.list_tags)
    for path in ("/ddfs/tag/{tag}", "/ddfs/tag/{tag}/{attr}"):
        r.add_get(path, ddfs.get_tag)
        r.add_post(path, ddfs.post_tag)
        r.add_put(path, ddfs.put_tag)
        r.add_delete(path, ddfs.delete_tag)
    r.add_get("/ddfs/ctrl/gc_start", ddfs.gc_start)
    r.add_get("/ddfs/ctrl/gc_status", ddfs.gc_status)
    r.add_get("/ddfs/ctrl/gc_stats", ddfs.gc_stats)
    r.add_get("/ddfs/ctrl/safe_gc_blacklist", ddfs.safe_gc_blacklist)
    r.add_post("/ddfs/ctrl/hosted_tags", ddfs.hosted_tags)
    r.add_get("/ddfs/{path:.+}", ddfs.serve_local)


def setup(app: web.Application, settings: Any, cluster: Any) -> DdfsMaster:
    """Mount the DDFS master routes on the master's aiohttp app.

    `cluster` is the master's view of the nodes: `cluster.nodes()` returns objects with
    `host, connected, blacklisted, gc_blacklisted, disk_free, disk_used, get_url, put_url`.
    `settings`: the master's typed Config, or a settings mapping (tests pass a plain dict).
    """
    ddfs = DdfsMaster(config_of(settings), cluster)
    add_routes(app, ddfs)
    httperrors.install(app)  # TagError -> Disco's plain-text replies under /ddfs/
    app.on_startup.append(ddfs.on_startup)
    app.on_cleanup.append(ddfs.on_cleanup)
    return ddfs
