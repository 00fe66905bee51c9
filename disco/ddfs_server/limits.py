"""Per-node transfer limits: Disco lets 3 transfers run and up to 100 wait (1 min), else 503."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from aiohttp import web


class TransferLimiter:
    """At most `active` concurrent transfers; `queue` more may wait up to `wait` seconds."""

    def __init__(self, active: int, queue: int, wait: float, busy_message: str) -> None:
        self._semaphore = asyncio.Semaphore(max(1, active))
        self._queue, self._wait = queue, wait
        self._waiting = 0
        self.busy_message = busy_message

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore.locked() and self._waiting >= self._queue:
            raise web.HTTPServiceUnavailable(text=self.busy_message)
        self._waiting += 1
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self._wait)
        except asyncio.TimeoutError:
            raise web.HTTPServiceUnavailable(text=self.busy_message) from None
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._semaphore.release()
