"""Helpers for the web UI tests: an aiohttp app served from a background thread."""
from __future__ import annotations

import asyncio
import threading

from aiohttp import web
from disco.testing import free_port


def run_in_thread(coroutine_function):
    """asyncio.run() in a fresh thread (Playwright's sync API owns the main thread's loop)."""
    result: dict = {}

    def target():
        try:
            result["value"] = asyncio.run(coroutine_function())
        except BaseException as error:  # re-raised in the test's thread
            result["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    if "error" in result:
        raise result["error"]
    return result["value"]


class ThreadedServer:
    """Runs an aiohttp app in a background thread with its own event loop."""

    def __init__(self, app: web.Application):
        self.app, self.port = app, free_port()
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self.started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())

    def __enter__(self):
        self.thread.start()
        assert self.started.wait(10), "test server did not start"
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
