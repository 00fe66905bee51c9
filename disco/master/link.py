"""The master side of the node websocket (``/internal/node/ws``, docs/architecture.md).

Layer 2. A node says ``hello``; a host missing from the config table gets ``reject``. Messages to
a node go through a per-link queue drained by one writer task, so they arrive in the order the
master produced them. Closing the socket, or no frame at all for ``DISCO_NODE_TIMEOUT`` seconds
(the master's timer loop closes such links, `check_links`), makes the node lost.

Liveness: every frame from a node counts (messages, and the PONGs to the master's pings), not
only its ``status`` messages. A node silent for ``DISCO_NODE_HEARTBEAT`` gets a websocket
PING; a busy node whose status is late still answers it, since the PONG only needs its event
loop to run once. aiohttp's own ``heartbeat`` is not used: it drops a link whose PONG takes more
than half a heartbeat (0.25 s with the test clusters' 0.5 s), which on a loaded machine (100 node
processes on 2 cores) killed healthy links and their tasks ("Connection lost to the node").
When the master itself stalled (its timer pass ran late), it could not have heard its nodes
either: the stall is not counted as their silence.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from disco import auth
from disco.protocol import cluster as link

if TYPE_CHECKING:
    from disco.master.master import Master

log = logging.getLogger(__name__)

#: the queue item that makes the writer send a websocket PING
_PING: dict = {"op": "ping"}


class NodeLink:
    """One connected node's websocket with an ordered outgoing queue."""

    def __init__(self, host: str, ws: web.WebSocketResponse) -> None:
        self.host = host
        self.ws = ws
        self.last_ping = 0.0
        self._queue: asyncio.Queue[dict | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write(), name=f"link-writer-{host}")

    def send(self, message: dict) -> None:
        self._queue.put_nowait(message)

    def ping(self, now: float) -> None:
        """Ask the node for a PONG (through the queue: frames are written by one task)."""
        self.last_ping = now
        self._queue.put_nowait(_PING)

    async def _write(self) -> None:
        while True:
            message = await self._queue.get()
            if message is None:
                return
            try:
                if message is _PING:
                    await self.ws.ping()
                else:
                    await self.ws.send_str(link.encode(message))
            except (ConnectionError, RuntimeError) as exc:
                log.warning("node %s: sending %s failed: %s", self.host,
                            message.get("op", "ping"), exc)
                return

    async def close(self) -> None:
        self._queue.put_nowait(None)
        await asyncio.gather(self._writer, return_exceptions=True)
        await self.ws.close()


async def node_socket(request: web.Request) -> web.StreamResponse:
    """The websocket handler a node connects to."""
    master: Master = request.app["master"]
    timeout = master.config.disco_node_timeout
    if request.app.get("secret") and request.headers.get("Upgrade", "").lower() != "websocket":
        # not a node: the link authenticates in-band, so plain requests get the usual 401
        return web.json_response("the node link requires the cluster's secret (DISCO_SECRET) "
                                 "and a websocket", status=401)
    # autoping off: PONGs reach _receive (they prove the node alive) and PINGs are answered
    # there; liveness is check_links' business, not aiohttp's heartbeat (module docstring)
    ws = web.WebSocketResponse(autoping=False, max_msg_size=0)
    await ws.prepare(request)
    first = await ws.receive(timeout=timeout)
    while first.type in (WSMsgType.PING, WSMsgType.PONG):
        if first.type == WSMsgType.PING:
            await ws.pong(first.data)
        first = await ws.receive(timeout=timeout)
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
    secret = request.app.get("secret")
    if secret and not await _authenticate(ws, secret, node.host, hello, timeout):
        log.warning("node link for %s from %s refused: no proof of the cluster's secret",
                    node.host, request.remote)
        await ws.send_str(link.encode(link.reject(
            f"node link refused: the node for {node.host} must have the cluster's secret "
            "(DISCO_SECRET or DISCO_SECRET_FILE)")))
        await ws.close()
        return ws
    if node.link is not None:
        log.warning("node %s reconnected; closing its previous link", node.host)
        await _drop(master, node)
    peer = NodeLink(node.host, ws)
    node.link, node.connected = peer, True
    node.last_seen = time.time()
    node.disk_free = int(hello.get("disk_free") or 0)
    node.disk_used = int(hello.get("disk_used") or 0)
    peer.send(link.welcome(node.max_workers))
    log.info("node %s connected (pid %s)", node.host, hello.get("pid"))
    _take_reports(master, node.host, hello.get("reports"))
    master.node_up(node.host)
    try:
        await _receive(master, node.host, ws)
    finally:
        if node.link is peer:
            await _drop(master, node)
    return ws


async def _authenticate(ws: web.WebSocketResponse, secret: str, host: str, hello: dict,
                        timeout: float) -> bool:
    """The link's HMAC challenge: sign the node's nonce, check its signature of ours."""
    nonce = auth.new_nonce()
    theirs = hello.get("nonce") if isinstance(hello.get("nonce"), str) else ""
    await ws.send_str(link.encode(link.challenge(nonce, auth.link_mac(secret, "master", host,
                                                                      theirs))))
    try:
        reply = await ws.receive(timeout=timeout or None)
        answer = link.decode(reply.data) if reply.type == WSMsgType.TEXT else {}
    except (asyncio.TimeoutError, link.LinkProtocolError):
        return False
    return answer.get("op") == link.AUTH and auth.same(
        answer["mac"], auth.link_mac(secret, "node", host, nonce))


def _take_reports(master: Master, host: str, reports) -> None:
    """Task reports a node sent before this master stored them (they come with its hello)."""
    if not isinstance(reports, list):
        return
    if reports:
        log.info("node %s: %d task reports sent again", host, len(reports))
    for report in reports:
        try:
            link.validate(report)
        except (link.LinkProtocolError, AttributeError) as exc:
            log.warning("node %s: bad report in its hello: %s", host, exc)
            continue
        if report["op"] == link.TASK_DONE:
            master.node_message(host, report)


async def _receive(master: Master, host: str, ws: web.WebSocketResponse) -> None:
    node = master.cluster.node(host)
    while True:
        message = await ws.receive()
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
            return
        if node is not None:
            node.last_seen = time.time()  # any frame proves the node alive
        if message.type == WSMsgType.PING:
            await ws.pong(message.data)
            continue
        if message.type != WSMsgType.TEXT:
            continue
        try:
            decoded = link.decode(message.data)
        except link.LinkProtocolError as exc:
            log.warning("node %s sent a bad message: %s", host, exc)
            continue
        items, problems = link.unbatch(decoded)
        for problem in problems:
            log.warning("node %s sent a bad message in a batch: %s", host, problem)
        for item in items:
            master.node_message(host, item)


async def _drop(master: Master, node) -> None:
    peer, node.link, node.connected = node.link, None, False
    log.warning("node %s lost", node.host)
    master.node_down(node.host)
    if peer is not None:
        await peer.close()


def check_links(nodes, now: float, heartbeat: float, timeout: float, stalled: float) -> list:
    """One liveness pass over the connected nodes (the master's timer loop, every tick).

    `stalled`: seconds the master itself was not running its loop beyond the tick (it could
    not read its sockets meanwhile, so that time is not the nodes' silence). Pings nodes
    silent for `heartbeat`; returns the links of nodes silent for more than `timeout`.
    """
    lost = []
    for node in nodes:
        peer = node.link
        if peer is None or not node.last_seen:
            continue
        if stalled > 0:
            node.last_seen = min(now, node.last_seen + stalled)
        silent = now - node.last_seen
        if timeout > 0 and silent > timeout:
            log.warning("node %s silent for %.1fs (no message, no pong): closing its link",
                        node.host, silent)
            lost.append(peer)
        elif heartbeat > 0 and silent >= heartbeat and now - peer.last_ping >= heartbeat:
            peer.ping(now)
    return lost
