"""Status web UI served by the master at `/` (layer: server side, aiohttp).

The pages are static HTML + vanilla JS under ``static/``; everything they show comes from
the documented REST endpoints (``/disco/ctrl/...``, ``/ddfs/...``), which are the pages'
JSON twins. This module only mounts the pages, the static files and ``/openapi.json``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from aiohttp import web

from disco import __version__
from disco.web.openapi import build_openapi

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"

#: URL path -> file under STATIC_DIR for each page.
PAGES = {
    "/": "index.html",
    "/index.html": "index.html",
    "/job.html": "job.html",
    "/config.html": "config.html",
    "/ddfs.html": "ddfs.html",
}

#: No inline or foreign scripts: an injected job name or tag can never run as code.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render_page(filename: str) -> str:
    """One page: the shared frame (head, navigation) around the page's own `<main>`.

    A page file starts with `<!-- title: T; page: P; scripts: a.js b.js -->`; its other
    lines are the body.
    """
    first, body = (STATIC_DIR / filename).read_text().split("\n", 1)
    meta = dict(part.strip().split(": ", 1) for part in first.strip()[4:-3].split(";"))
    scripts = "".join(f'<script src="/static/{name}" defer></script>\n'
                      for name in meta.get("scripts", "").split())
    frame = (STATIC_DIR / "frame.html").read_text().split("\n", 1)[1]  # drop its comment
    for key, value in (("{title}", meta["title"]), ("{page}", meta["page"]),
                       ("{scripts}", scripts), ("{body}", body)):
        frame = frame.replace(key, value, 1)
    return frame


def _page_handler(document: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text=document, content_type="text/html",
                            headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})

    return handler


def setup(app: web.Application, settings, master) -> None:
    """Mount the UI pages and static files on the master's aiohttp app."""
    document = json.dumps(build_openapi(__version__), indent=1)

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(text=document, content_type="application/json")

    documents = {filename: render_page(filename) for filename in set(PAGES.values())}
    for url, filename in PAGES.items():
        app.router.add_get(url, _page_handler(documents[filename]))
    app.router.add_get("/openapi.json", openapi)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    app.on_response_prepare.append(_static_headers)
    log.debug("web UI mounted (%d pages)", len(PAGES))


async def _static_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-cache")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")

