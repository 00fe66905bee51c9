"""Limits for our HTTP servers (master, node data server, DDFS PUT port): body sizes, connection
counts and slow clients (server side, aiohttp; docs/security-hardening.md "Limits").

* **Slow clients.** A connection must deliver a complete request head within
  ``DISCO_HTTP_IDLE_TIMEOUT`` seconds of opening, and the next one within as long after a
  response (aiohttp's keep-alive timer, which partial data does not reset): a slowloris client
  that trickles header bytes is closed. Websockets (the node links) are not affected once open.
* **Connection counts.** At most ``DISCO_HTTP_MAX_CONNECTIONS`` open connections per server and
  ``DISCO_HTTP_MAX_CLIENT_CONNECTIONS`` per client address. Over a limit, the oldest *idle*
  connection (one waiting for a request head) of that client, or of anyone for the global
  limit, is closed to make room; when every connection is busy with a request, the new one is
  answered ``503`` and closed. So one client holding many half-open connections cannot starve
  the others: theirs are evicted first.
* **Body sizes.** Requests other than the big-body paths (job packs, DDFS) may carry at most
  ``DISCO_HTTP_MAX_BODY`` bytes: a larger ``Content-Length`` is answered ``413`` before the body
  is read, and a chunked body is cut at the same size by aiohttp's ``client_max_size``.
"""
from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from disco.settings_table import config_of

log = logging.getLogger(__name__)

#: seconds a refused connection stays open for its 503 to be read
REFUSE_LINGER = 0.5
_BUSY_REPLY = "Too many connections to this server (DISCO_HTTP_MAX_CONNECTIONS, " \
              "DISCO_HTTP_MAX_CLIENT_CONNECTIONS); try again.\n"


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int = 1000
    max_client_connections: int = 200
    idle_timeout: float = 30.0
    max_body: int = 16 << 20

    @classmethod
    def from_config(cls, config: Any) -> "ServerLimits":
        """The limits of a typed :data:`disco.settings_table.Config`."""
        return cls(config.disco_http_max_connections, config.disco_http_max_client_connections,
                   config.disco_http_idle_timeout, config.disco_http_max_body)


class ConnectionGuard:
    """Counts a server's connections per client and evicts or refuses over the limits."""

    def __init__(self, limits: ServerLimits, name: str = "http") -> None:
        self.limits, self.name = limits, name
        #: open connections, oldest first: handler -> client address
        self.open: collections.OrderedDict[RequestHandler, str] = collections.OrderedDict()
        self.per_client: collections.Counter[str] = collections.Counter()
        self.evicted = self.refused = 0

    def install(self, server: Server) -> None:
        """Hook the server's connection callbacks (instance attributes shadow its methods)."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: RequestHandler, transport: Any) -> None:
            made(handler, transport)
            self.admit(handler, transport)

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            self.forget(handler)
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    def admit(self, handler: RequestHandler, transport: Any) -> None:
        client = _client_address(transport)
        limits = self.limits
        if self.per_client[client] >= limits.max_client_connections \
                and not self._evict(lambda c: c == client):
            self._refuse(handler, transport, client)
            return
        if len(self.open) >= limits.max_connections and not self._evict(lambda c: True):
            self._refuse(handler, transport, client)
            return
        self.open[handler] = client
        self.per_client[client] += 1

    def forget(self, handler: RequestHandler) -> None:
        client = self.open.pop(handler, None)
        if client is not None:
            self.per_client[client] -= 1
            if self.per_client[client] <= 0:
                del self.per_client[client]

    def _evict(self, matches: Callable[[str], bool]) -> bool:
        """Close the oldest idle connection whose client `matches`; False if none is idle."""
        for handler, client in self.open.items():
            if matches(client) and _is_idle(handler):
                self.forget(handler)
                handler.force_close()
                self.evicted += 1
                log.info("%s: closed an idle connection of %s to make room", self.name, client)
                return True
        return False

    def _refuse(self, handler: RequestHandler, transport: Any, client: str) -> None:
        self.refused += 1
        log.warning("%s: refused a connection from %s: every connection is busy (%d open, "
                    "%d from it)", self.name, client, len(self.open), self.per_client[client])
        body = _BUSY_REPLY.encode()
        transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        # ignore what the client sends from now on, and close a moment later: closing with
        # its request still unread in the kernel would reset the connection and lose the 503
        handler.close()
        asyncio.get_running_loop().call_later(REFUSE_LINGER, handler.force_close)


def _client_address(transport: Any) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, (tuple, list)) and peer else str(peer)


def _is_idle(handler: RequestHandler) -> bool:
    """Waiting for (the rest of) a request head: nothing of ours is in progress on it.
    aiohttp's private flag; if it ever disappears every connection counts as busy, which
    only makes the guard refuse new connections instead of evicting old ones."""
    return not getattr(handler, "_request_in_progress", True)


class LimitedRunner(web.AppRunner):
    """An AppRunner whose server has the idle timeout and the connection guard."""

    def __init__(self, app: web.Application, limits: ServerLimits, name: str = "http",
                 **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", limits.idle_timeout)
        super().__init__(app, **kwargs)
        self.guard = ConnectionGuard(limits, name)

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        self.guard.install(server)
        return server


def runner(app: web.Application, config: Any, name: str = "http",
           **kwargs: Any) -> LimitedRunner:
    """The runner every server of ours uses (``web.AppRunner`` plus :class:`ServerLimits`).

    `config` is the process's typed Config, or settings (disco.testing's in-process cluster
    passes its DiscoSettings), typed here."""
    return LimitedRunner(app, ServerLimits.from_config(config_of(config)), name, **kwargs)


def body_limit(max_body: int, exempt: Iterable[str] = ()) -> Callable[..., Awaitable[Any]]:
    """Middleware: 413 for a body over `max_body` bytes, except under the `exempt` prefixes
    (paths with their own limits: job packs, DDFS uploads and tags)."""
    prefixes = tuple(exempt)

    @web.middleware
    async def limit_body(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(prefixes) or not request.body_exists:
            return await handler(request)
        length = request.content_length
        if length is not None and length > max_body:
            raise web.HTTPRequestEntityTooLarge(max_body, length,
                                                text=f"Request body over {max_body} bytes "
                                                     "(DISCO_HTTP_MAX_BODY).\n")
        if length is None:  # chunked: let aiohttp stop reading at the limit
            request = request.clone(client_max_size=max_body)
        return await handler(request)

    return limit_body


def add_body_limit(app: web.Application, max_body: int, exempt: Iterable[str] = ()) -> None:
    app.middlewares.append(body_limit(max_body, exempt))
