"""DDFS node: blob and tag storage on a node (layer 2, aiohttp).

Mounted by the node app (and, for a node co-located with the master, its files are served by the
master).  Public routes: GET/HEAD ``/ddfs/<path>`` on DISCO_PORT; ``PUT /ddfs/<name>$<ts>``
(blob upload) on DDFS_PUT_PORT.  Internal routes for the DDFS master live on DDFS_PUT_PORT under
``/ddfs/internal/`` (tag list, tag writes, file reads, GC scans, deletes, replication).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
from aiohttp import web

from disco import httpauth
from disco.ddfs_server import blobstore
from disco.ddfs_server.config import DdfsConfig
from disco.ddfs_server.limits import TransferLimiter
from disco.ddfs_server.names import (MAX_BLOB_NAME_LENGTH, InvalidName, is_valid_name,
                                     parse_objname)
from disco.serving import serve_file
from disco.settings_table import config_of

log = logging.getLogger(__name__)
#: Disco's largest blob (1 TiB)
MAX_BLOB_SIZE = 1 << 40
#: bytes buffered before a write is handed to a thread (fewer thread hops per blob)
WRITE_BUFFER = 4 << 20


class DdfsNode:
    """One node's DDFS storage and its HTTP handlers."""

    def __init__(self, config: Any, host: str, ddfs_data: str) -> None:
        """`config`: the node's typed Config (disco.settings_table)."""
        self._client_config = config  # the HTTP client's credential and TLS (disco.httpauth)
        self.config = DdfsConfig.from_config(config)
        self.host, self.root = host, ddfs_data
        c = self.config
        self.uploads = TransferLimiter(c.ddfs_max_uploaders, c.ddfs_transfer_queue,
                                       c.ddfs_transfer_wait, "Maximum number of uploaders reached")
        self.downloads = TransferLimiter(c.ddfs_max_downloaders, c.ddfs_transfer_queue,
                                         c.ddfs_transfer_wait,
                                         "Maximum number of downloaders reached")
        self._session: aiohttp.ClientSession | None = None
        #: an upload that sends nothing for this long gives its slot back (a stalled or
        #: slowloris client would hold one of the DDFS_MAX_UPLOADERS slots for ever)
        self.upload_idle = c.disco_http_idle_timeout
        blobstore.volumes(ddfs_data)

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=5,
                                            sock_read=self.config.ddfs_node_timeout)
            self._session = httpauth.client_session(self._client_config, timeout=timeout)
        return self._session

    async def close(self, _app: web.Application | None = None) -> None:
        if self._session is not None:
            await self._session.close()

    # -- public -----------------------------------------------------------------------------
    async def get_file(self, request: web.Request) -> web.StreamResponse:
        """GET/HEAD /ddfs/<path>: a blob or tag file, with Range."""
        async with self.downloads.slot():
            response = await serve_file(request, self.root, request.match_info["path"],
                              volume_links=True)
            # send the file while holding the slot, so the limit counts whole transfers;
            # aiohttp prepares a returned response again, which must then do nothing
            await response.prepare(request)
            response.prepare = _already_prepared  # type: ignore[method-assign]
            return response

    async def put_blob(self, request: web.Request) -> web.Response:
        """PUT /ddfs/<name>$<ts>: store a blob; 201 with its disco:// URL."""
        objname = request.match_info["objname"]
        try:
            parsed = parse_objname(objname)
        except InvalidName:
            return web.Response(status=403, text="Invalid blob name.")
        if not is_valid_name(parsed.name):
            return web.Response(status=403, text="Invalid blob name.")
        if len(parsed.name) > MAX_BLOB_NAME_LENGTH:  # the master hashes longer names (new_blob)
            return web.Response(status=403, text=(
                f"Invalid blob name: at most {MAX_BLOB_NAME_LENGTH} characters "
                "(ask the DDFS master for the blob's URL: /ddfs/new_blob/<name>)."))
        if (request.content_length or 0) > MAX_BLOB_SIZE:
            return web.Response(status=413, text="Blob too large.")
        async with self.uploads.slot():
            relpath = await self._receive(request, objname)
        url = f"disco://{self.host}/ddfs/{relpath}"
        return web.json_response(url, status=201)

    async def _receive(self, request: web.Request, objname: str) -> str:
        try:
            partial = await asyncio.to_thread(blobstore.PartialWrite, self.root, "blob", objname)
        except blobstore.ObjectExists:
            raise web.HTTPConflict(text=f"File exists: {objname}") from None
        try:
            await self._copy_body(request.content, partial, idle=self.upload_idle)
            if request.content_length is not None and partial.size != request.content_length:
                raise web.HTTPBadRequest(
                    text=f"Upload cut short: {partial.size} of {request.content_length} bytes.")
            return await asyncio.to_thread(partial.commit)
        except blobstore.ObjectExists:
            raise web.HTTPConflict(text=f"File exists: {objname}") from None
        finally:
            await asyncio.to_thread(partial.abort)

    async def _copy_body(self, stream: Any, partial: blobstore.PartialWrite,
                         idle: float | None = None) -> None:
        """Write the body in WRITE_BUFFER pieces, one write in flight while the next piece is
        read from the socket (reading and writing overlap: with a write awaited before each
        read, a push ran at ~1/5 of `cp` + `fsync`)."""
        buffer = bytearray()
        writing: asyncio.Future | None = None
        try:
            async for chunk in _chunks(stream, idle):
                buffer += chunk
                if len(buffer) >= WRITE_BUFFER:
                    if writing is not None:
                        await writing
                    writing = asyncio.ensure_future(asyncio.to_thread(partial.write, buffer))
                    buffer = bytearray()
        except BaseException:
            if writing is not None:  # the caller aborts the file: not under a running write
                await asyncio.wait([writing])
            raise
        if writing is not None:
            await writing
        if buffer:
            await asyncio.to_thread(partial.write, buffer)

    # -- internal (DDFS master -> node) -------------------------------------------------------
    async def internal_tags(self, _request: web.Request) -> web.Response:
        tags = await asyncio.to_thread(blobstore.latest_tags, self.root)
        return web.json_response({"tags": tags})

    async def internal_file(self, request: web.Request) -> web.StreamResponse:
        return await serve_file(request, self.root, request.match_info["path"],
                              volume_links=True)

    async def internal_put_tag(self, request: web.Request) -> web.Response:
        objname = request.match_info["objname"]
        try:
            parse_objname(objname)
        except InvalidName as exc:
            return web.Response(status=403, text=str(exc))
        data = await request.content.read(MAX_INTERNAL_BODY + 1)
        if len(data) > MAX_INTERNAL_BODY:
            return web.Response(status=413, text="Tag body too large.")
        try:
            relpath = await asyncio.to_thread(blobstore.write_object, self.root, "tag",
                                              objname, data)
        except blobstore.ObjectExists:
            relpath = await asyncio.to_thread(blobstore.find_object, self.root, "tag", objname)
        return web.json_response({"url": f"disco://{self.host}/ddfs/{relpath}"})

    async def internal_scan(self, request: web.Request) -> web.Response:
        """List every stored object (after removing stale partial uploads) and disk usage."""
        body = await json_object(request)
        grace = body.get("partial_grace", self.config.ddfs_partial_grace)
        if not isinstance(grace, (int, float)) or isinstance(grace, bool) or grace < 0:
            raise web.HTTPBadRequest(text="partial_grace must be a number of seconds >= 0.")
        removed = await asyncio.to_thread(blobstore.remove_stale_partials, self.root, grace)
        objects = await asyncio.to_thread(blobstore.list_objects, self.root)
        free, used = await asyncio.to_thread(blobstore.disk_usage, self.root)
        return web.json_response({"objects": [o.as_list() for o in objects],
                                  "partials_removed": removed, "disk_free": free,
                                  "disk_used": used, "now": time.time()})

    async def internal_delete(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        objects = delete_list(body.get("objects", []))
        paranoid = bool(body.get("paranoid", self.config.ddfs_paranoid_delete))
        deleted = await asyncio.to_thread(self._delete_many, objects, paranoid)
        return web.json_response({"deleted": deleted})

    def _delete_many(self, objects: list, paranoid: bool) -> int:
        deleted = 0
        for kind, volume, objname in objects:
            try:
                deleted += blobstore.delete_object(self.root, kind, volume, objname, paranoid)
            except InvalidName:
                log.warning("ddfs node %s: refusing to delete %s/%s/%s", self.host, kind,
                            volume, objname)
        return deleted

    async def internal_replicate(self, request: web.Request) -> web.Response:
        """Copy an object from `source` (another node's internal file URL) into this node."""
        body = await json_object(request)
        kind, objname, source = (body.get(k) for k in ("kind", "objname", "source"))
        if kind not in blobstore.KINDS or not isinstance(objname, str) \
                or not isinstance(source, str) or not source.startswith(("http://", "https://")):
            raise web.HTTPBadRequest(text='Expected {"kind": "blob"|"tag", "objname": str, '
                                          '"source": "http(s)://..."}.')
        try:
            parse_objname(objname)
        except InvalidName as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        existing = await asyncio.to_thread(blobstore.find_object, self.root, kind, objname)
        if existing:
            return web.json_response({"url": f"disco://{self.host}/ddfs/{existing}"})
        partial = await asyncio.to_thread(blobstore.PartialWrite, self.root, kind, objname)
        try:
            async with self.session().get(source) as resp:
                if resp.status != 200:
                    raise web.HTTPBadGateway(text=f"replication source {source}: {resp.status}")
                await self._copy_body(resp.content, partial)
                if resp.content_length is not None and partial.size != resp.content_length:
                    raise web.HTTPBadGateway(text=f"replication source {source} cut short")
            relpath = await asyncio.to_thread(partial.commit)
        except aiohttp.ClientError as exc:
            raise web.HTTPBadGateway(text=f"replication source {source}: {exc}") from None
        except blobstore.ObjectExists:
            relpath = await asyncio.to_thread(blobstore.find_object, self.root, kind, objname)
        finally:
            await asyncio.to_thread(partial.abort)
        return web.json_response({"url": f"disco://{self.host}/ddfs/{relpath}"})

    async def internal_df(self, _request: web.Request) -> web.Response:
        free, used = await asyncio.to_thread(blobstore.disk_usage, self.root)
        return web.json_response({"disk_free": free, "disk_used": used})


async def _chunks(stream: Any, idle: float | None):
    """The body's chunks; 408 when none arrives for `idle` seconds."""
    while True:
        try:
            chunk = await asyncio.wait_for(stream.read(1 << 20), idle)
        except asyncio.TimeoutError:
            raise web.HTTPRequestTimeout(text=f"No upload data for {idle:g} s "
                                              "(DISCO_HTTP_IDLE_TIMEOUT).") from None
        if not chunk:
            return
        yield chunk


#: the largest JSON body an internal endpoint reads (a GC delete list of many objects)
MAX_INTERNAL_BODY = 64 << 20


async def json_object(request: web.Request) -> dict:
    """The request's JSON object body; 400 (never 500) for anything else."""
    if (request.content_length or 0) > MAX_INTERNAL_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_INTERNAL_BODY, request.content_length or 0)
    raw = await request.content.read(MAX_INTERNAL_BODY + 1)
    if len(raw) > MAX_INTERNAL_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_INTERNAL_BODY, len(raw))
    try:
        body = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="Body is not JSON.") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="Body must be a JSON object.")
    return body


def delete_list(objects: Any) -> list[tuple[str, str, str]]:
    """Validate ``[[kind, volume, objname], ...]`` of a delete request (400 otherwise)."""
    if not isinstance(objects, list) or not all(
            isinstance(o, list) and len(o) == 3 and all(isinstance(x, str) for x in o)
            for o in objects):
        raise web.HTTPBadRequest(text='"objects" must be a list of [kind, volume, objname] '
                                      'string triples.')
    return [(kind, volume, objname) for kind, volume, objname in objects]


async def _already_prepared(_request: web.Request) -> None:
    return None


def add_get_routes(app: web.Application, node: DdfsNode) -> None:
    app.router.add_get("/ddfs/{path:.+}", node.get_file)


def add_put_routes(app: web.Application, node: DdfsNode) -> None:
    app.router.add_get("/ddfs/internal/tags", node.internal_tags)
    app.router.add_get("/ddfs/internal/df", node.internal_df)
    app.router.add_get("/ddfs/internal/file/{path:.+}", node.internal_file)
    app.router.add_put("/ddfs/internal/tag/{objname}", node.internal_put_tag)
    app.router.add_post("/ddfs/internal/scan", node.internal_scan)
    app.router.add_post("/ddfs/internal/delete", node.internal_delete)
    app.router.add_post("/ddfs/internal/replicate", node.internal_replicate)
    app.router.add_put("/ddfs/{objname}", node.put_blob)


def setup(get_app: web.Application | None, put_app: web.Application, settings: Any, host: str,
          ddfs_data: str) -> DdfsNode:
    """Mount DDFS node routes: GET/HEAD `/ddfs/...` on `get_app` (DISCO_PORT; None for a node
    co-located with the master, whose files the master serves) and uploads plus internal
    endpoints on `put_app` (DDFS_PUT_PORT). `settings`: the node's typed Config, or a settings
    mapping (tests pass a plain dict)."""
    node = DdfsNode(config_of(settings), host, ddfs_data)
    if get_app is not None:
        add_get_routes(get_app, node)
    add_put_routes(put_app, node)
    put_app.on_cleanup.append(node.close)
    return node
