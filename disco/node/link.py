"""The node's websocket link to the master (docs/architecture.md "The master <-> node link").

Layer 2 (`disco.node`). `MasterLink.run()` connects to `ws://<master>/internal/node/ws`, says
`hello`, waits for `welcome`, then sends a `status` every `DISCO_NODE_HEARTBEAT` seconds and
hands every master message to the node. When the connection is lost it tells the node (which
kills its running tasks: the master reschedules them) and reconnects, forever, until stopped.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any, Awaitable, Callable

import aiohttp

from disco import __version__, auth
from disco.protocol import cluster
from disco.error import DiscoError

log = logging.getLogger(__name__)

#: seconds an event waits for a report to share its frame (the master writes its event
#: logs every DISCO_EVENTS_FLUSH_INTERVAL seconds anyway)
EVENT_DELAY = 0.05

Handler = Callable[[dict], Awaitable[None] | None]


class LinkRejected(DiscoError):
    """The master answered `reject`."""


class MasterLink:
    """A reconnecting websocket client; `send()` never blocks and drops while disconnected."""

    def __init__(self, master_url: str, host: str, *, heartbeat: float, timeout: float,
                 retry_max: float, on_message: Handler, on_connect: Callable[[dict], None],
                 on_disconnect: Callable[[], None], disk_usage: Callable[[], tuple[int, int]],
                 running: Callable[[], list],
                 reports: Callable[[], list] = list, secret: str | None = None,
                 ssl: Any = None) -> None:
        self.url = ws_url(master_url)
        self.host = host
        self.heartbeat, self.timeout, self.retry_max = heartbeat, timeout, retry_max
        self._on_message, self._on_connect, self._on_disconnect = (on_message, on_connect,
                                                                   on_disconnect)
        self._disk_usage, self._running, self._reports = disk_usage, running, reports
        self._outbox: asyncio.Queue[dict] | None = None
        #: the master reads `batch` frames (its welcome said so): events then wait for
        #: the next report, or `EVENT_DELAY`, and go with it in one frame
        self._batching = False
        self._events: list[dict] = []
        self._events_timer: asyncio.TimerHandle | None = None
        self.connected = asyncio.Event()
        #: the cluster secret: with one, master and node prove they know it (docs/security.md)
        self.secret = secret
        self.ssl = ssl if ssl is not None else True  # aiohttp: True = default verification

    def send(self, message: dict) -> None:
        """Queue a message for the master; dropped if the link is down (the master treats a
        lost link as lost tasks, so late reports would be ignored anyway)."""
        if self._outbox is None:
            log.debug("link down: dropping %s", message.get("op"))
            return
        if self._batching and message["op"] == cluster.EVENT:
            self._events.append(message)
            if self._events_timer is None:
                self._events_timer = asyncio.get_running_loop().call_later(
                    EVENT_DELAY, self._flush_events)
            return
        self._flush_events()
        self._outbox.put_nowait(message)

    def _flush_events(self) -> None:
        """Queue the held events (before whatever is sent next: the order is kept)."""
        if self._events_timer is not None:
            self._events_timer.cancel()
            self._events_timer = None
        if self._outbox is not None:
            for message in self._events:
                self._outbox.put_nowait(message)
        self._events.clear()

    async def run(self) -> None:
        """Connect, serve, reconnect; returns only when cancelled."""
        delay = min(0.2, self.retry_max)
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    await self._session(http)
                    delay = min(0.2, self.retry_max)
                except LinkRejected as exc:
                    log.error("master %s rejected node %s: %s", self.url, self.host, exc)
                    delay = self.retry_max
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                    log.info("link to master %s down: %s", self.url, exc or type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)

    async def _session(self, http: aiohttp.ClientSession) -> None:
        # aiohttp closes the link when a PONG takes more than heartbeat/2: with the status
        # heartbeat that was 0.25 s in test clusters, which a loaded master missed. The master
        # pings silent nodes itself; our pings only detect a vanished master (PONG within
        # DISCO_NODE_TIMEOUT after 2 x DISCO_NODE_TIMEOUT of silence).
        async with http.ws_connect(self.url, heartbeat=2 * self.timeout if self.timeout > 0
                                   else None, max_msg_size=0, ssl=self.ssl) as ws:
            free, used = self._disk_usage()
            # reports the master has not stored travel in the hello: the master takes them
            # before it schedules anything on this node (a master killed right after they
            # arrived would otherwise run those tasks again)
            nonce = auth.new_nonce() if self.secret else None
            await ws.send_str(cluster.encode(cluster.hello(self.host, os.getpid(), __version__,
                                                           free, used, self._reports(),
                                                           nonce=nonce)))
            welcome = await self._welcome(ws, nonce)
            log.info("connected to master %s as %s", self.url, self.host)
            self._outbox = asyncio.Queue()
            self._batching = welcome.get("batch") is True
            self._on_connect(welcome)
            self.connected.set()
            tasks = [asyncio.create_task(self._sender(ws, self._outbox)),
                     asyncio.create_task(self._heartbeats())]
            try:
                await self._receiver(ws)
            finally:
                self.connected.clear()
                self._outbox = None
                self._flush_events()  # dropped: the link is down
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._on_disconnect()

    async def _welcome(self, ws: aiohttp.ClientWebSocketResponse, nonce: str | None) -> dict:
        reply = await self._receive_reply(ws)
        if nonce is not None:
            if reply["op"] != cluster.CHALLENGE:
                raise LinkRejected("the master did not prove it knows the cluster's secret "
                                   "(is DISCO_SECRET set on the master?)")
            if not auth.same(reply["mac"], auth.link_mac(self.secret, "master", self.host,
                                                         nonce)):
                raise LinkRejected("the master's signature is wrong: master and node have "
                                   "different secrets (DISCO_SECRET)")
            await ws.send_str(cluster.encode(cluster.auth(
                auth.link_mac(self.secret, "node", self.host, reply["nonce"]))))
            reply = await self._receive_reply(ws)
        if reply["op"] != cluster.WELCOME:
            raise aiohttp.ClientError(f"expected welcome, got {reply['op']}")
        return reply

    async def _receive_reply(self, ws: aiohttp.ClientWebSocketResponse) -> dict:
        message = await ws.receive(timeout=self.timeout)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise aiohttp.ClientError(f"master closed the link before welcome ({message.type})")
        reply = cluster.decode(message.data)
        if reply["op"] == cluster.REJECT:
            raise LinkRejected(reply["reason"])
        return reply

    async def _receiver(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                decoded = cluster.decode(message.data)
            except cluster.LinkProtocolError as exc:
                log.error("bad message from master: %s: %.200s", exc, message.data)
                continue
            try:
                result = self._on_message(decoded)
                if result is not None:
                    await result
            except Exception:  # a bug in one handler must not drop the link
                log.exception("handling %s from master failed", decoded.get("op"))

    async def _sender(self, ws: aiohttp.ClientWebSocketResponse, outbox: asyncio.Queue) -> None:
        """Write the outbox in order; with batching, what queued meanwhile is one frame."""
        while True:
            message = await outbox.get()
            if self._batching and not outbox.empty():
                messages = [message]
                while not outbox.empty():
                    messages.append(outbox.get_nowait())
                message = cluster.batch(messages)
            await ws.send_str(json.dumps(message, separators=(",", ":")))

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            free, used = self._disk_usage()
            self.send(cluster.status(self._running(), free, used))


def ws_url(master_url: str) -> str:
    """`http://host:port` -> `ws://host:port/internal/node/ws`."""
    base = master_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://"):]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://"):]
    elif "://" not in base:
        base = "ws://" + base
    return base + cluster.WS_PATH

