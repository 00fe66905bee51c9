"""The one place a :class:`~disco.error.DiscoError` becomes an HTTP reply (server side, aiohttp).

A request handler of the master (``/disco/...``, the UI), of DDFS (``/ddfs/...``) or of a node
raises any :class:`~disco.error.DiscoError`; :func:`render_errors` answers with the error's
``status`` and :meth:`~disco.error.DiscoError.http_text`: plain text under ``/ddfs/`` (Disco's DDFS
replies, e.g. ``403 Invalid tag.``), a JSON string elsewhere (Disco's master replies). aiohttp's
own ``HTTPException`` replies pass through untouched.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from disco.error import DiscoError

log = logging.getLogger(__name__)


def error_response(path: str, error: DiscoError) -> web.Response:
    """The reply to a request for ``path`` that ended with ``error``."""
    if error.status >= 500:
        log.warning("%s: %s: %s", path, type(error).__name__, error)
    if path.startswith("/ddfs/"):
        return web.Response(status=error.status, text=error.http_text())
    return web.Response(status=error.status, text=json.dumps(error.http_text()),
                        content_type="application/json")


@web.middleware
async def render_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except DiscoError as error:
        return error_response(request.path, error)


def install(app: web.Application) -> None:
    """Add :func:`render_errors` to ``app`` once (the master app and DDFS both ask for it)."""
    if render_errors not in app.middlewares:
        app.middlewares.append(render_errors)
