"""The DDFS master's HTTP calls to nodes' internal endpoints on DDFS_PUT_PORT (layer 2)."""
from __future__ import annotations

import logging
from typing import Any

import aiohttp

from disco.error import DiscoError
from disco import httpauth

log = logging.getLogger(__name__)


class NodeCallFailed(DiscoError):
    """An internal call to a node failed (unreachable, timeout or an error status)."""

    status = 502


class NodeClient:
    """Thin JSON-over-HTTP client; one aiohttp session for the master's lifetime."""

    def __init__(self, timeout: float, settings: Any = None) -> None:
        self._settings = settings
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(5.0, timeout))
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = (aiohttp.ClientSession(timeout=self._timeout) if self._settings is None
                             else httpauth.client_session(self._settings, timeout=self._timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, method: str, url: str, *, json_body: Any = None,
                   data: bytes | None = None, timeout: float | None = None) -> Any:
        """Send a request and decode its JSON reply; NodeCallFailed on any failure."""
        kwargs: dict[str, Any] = {}
        if json_body is not None:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout, sock_connect=5)
        try:
            async with self.session().request(method, url, **kwargs) as resp:
                body = await resp.read()
                if resp.status >= 300:
                    raise NodeCallFailed(f"{method} {url}: {resp.status} {body[:200]!r}")
                return await resp.json(content_type=None) if body else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise NodeCallFailed(f"{method} {url}: {exc!r}") from exc

    async def read(self, url: str) -> bytes:
        try:
            async with self.session().get(url) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise NodeCallFailed(f"GET {url}: {resp.status}")
                return body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NodeCallFailed(f"GET {url}: {exc!r}") from exc
