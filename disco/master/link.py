"""The master side of the node websocket (``/internal/node/ws``, docs/architecture.md).

Layer 2. A node says ``hello``; a host missing from the config table gets ``reject``. Messages to
a node go through a per-link queue drained by one writer task, so they arrive in the order the
master produced them. Closing the socket, or no message for ``DISCO_NODE_TIMEOUT`` seconds (the
master's timer loop closes such links), makes the node lost.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from disco.protocol import cluster as link

if TYPE_CHECKING:
    from disco.master.master import Master

log = logging.getLogger(__name__)


class NodeLink:
    """One connected node's websocket with an ordered outgoing queue."""

    def __init__(self, host: str, ws: web.WebSocketResponse) -> None:
        self.host = host
        self.ws = ws
        self._queue: asyncio.Queue[dict | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write(), name=f"link-writer-{host}")

    def send(self, message: dict) -> None:
        self._queue.put_nowait(message)

    async def _write(self) -> None:
        while True:
            message = await self._queue.get()
            if message is None:
                return
            try:
                await self.ws.send_str(link.encode(message))
            except (ConnectionError, RuntimeError) as exc:
                log.warning("node %s: sending %s failed: %s", self.host, message["op"], exc)
                return

    async def close(self) -> None:
        self._queue.put_nowait(None)
        await asyncio.gather(self._writer, return_exceptions=True)
        await self.ws.close()


async def node_socket(request: web.Request) -> web.WebSocketResponse:
    """The websocket handler a node connects to."""
    master: Master = request.app["master"]
    settings = master.settings
    ws = web.WebSocketResponse(heartbeat=settings.get_float("DISCO_NODE_HEARTBEAT"),
                               max_msg_size=0)
    await ws.prepare(request)
    first = await ws.receive(timeout=settings.get_float("DISCO_NODE_TIMEOUT"))
    try:
        hello = link.decode(first.data) if first.type == WSMsgType.TEXT else {}
    except link.LinkProtocolError as exc:
        hello = {}
        log.warning("node link from %s: bad hello: %s", request.remote, exc)
    node = master.cluster.node(hello.get("host", "")) if hello.get("op") == link.HELLO else None
    if node is None:
        reason = f"host {hello.get('host')!r} is not in the config table"
        await ws.send_str(link.encode(link.reject(reason)))
        await ws.close()
        return ws
    if node.link is not None:
        log.warning("node %s reconnected; closing its previous link", node.host)
        await _drop(master, node)
    peer = NodeLink(node.host, ws)
    node.link, node.connected = peer, True
    node.disk_free = int(hello.get("disk_free") or 0)
    node.disk_used = int(hello.get("disk_used") or 0)
    peer.send(link.welcome(node.max_workers))
    log.info("node %s connected (pid %s)", node.host, hello.get("pid"))
    master.node_up(node.host)
    try:
        await _receive(master, node.host, ws)
    finally:
        if node.link is peer:
            await _drop(master, node)
    return ws


async def _receive(master: Master, host: str, ws: web.WebSocketResponse) -> None:
    async for message in ws:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            decoded = link.decode(message.data)
        except link.LinkProtocolError as exc:
            log.warning("node %s sent a bad message: %s", host, exc)
            continue
        master.node_message(host, decoded)


async def _drop(master: Master, node) -> None:
    peer, node.link, node.connected = node.link, None, False
    log.warning("node %s lost", node.host)
    master.node_down(node.host)
    if peer is not None:
        await peer.close()
