"""The web UI's login form, mounted only when the cluster has a secret (docs/security.md).

``GET /_login`` shows a form asking for the secret (or the client token); ``POST /_login``
checks it and sets two cookies: ``disco_auth`` (the client token; ``HttpOnly``,
``SameSite=Strict``, ``Secure`` over TLS) and ``disco_csrf`` (readable by the page's JS,
which sends it back as ``X-Disco-CSRF`` on state-changing requests; `disco.httpauth`).
``POST /_logout`` clears them. The secret itself is never stored in the browser.
"""
from __future__ import annotations

import html
import logging
import time
from collections import deque

from aiohttp import web

from disco import auth, httpauth

log = logging.getLogger(__name__)

LOGIN_PATH = "/_login"
LOGOUT_PATH = "/_logout"
#: failed logins kept per minute before further tries wait (a guessing brake)
FAILURES_PER_MINUTE = 10
#: a day: the browser asks again after that
COOKIE_MAX_AGE = 86400

FORM = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Disco: log in</title>
<link rel="stylesheet" href="/static/disco.css"></head>
<body><main class="login"><h1>Disco</h1>
<p>This cluster requires its secret (the contents of <code>DISCO_SECRET_FILE</code>, or
<code>DISCO_SECRET</code>).</p>{error}
<form method="post" action="/_login">
<input type="hidden" name="next" value="{next}">
<label>Secret
<input type="password" name="secret" autofocus autocomplete="current-password"></label>
<button type="submit">Log in</button></form></main></body></html>
"""


def setup(app: web.Application, secret: str) -> None:
    verifier = auth.Verifier(secret)
    token, csrf = auth.client_token(secret), httpauth.csrf_token(secret)
    failures: deque[float] = deque()

    async def form(request: web.Request) -> web.Response:
        return _form(request.query.get("next", "/"))

    async def login(request: web.Request) -> web.StreamResponse:
        data = await request.post()
        given = str(data.get("secret", "")).strip()
        target = _local(str(data.get("next", "/")))
        now = time.monotonic()
        while failures and failures[0] < now - 60:
            failures.popleft()
        if len(failures) >= FAILURES_PER_MINUTE:
            return _form(target, "Too many failed logins: wait a minute.", status=429)
        if not (auth.same(given, secret) or verifier.kind(given) == "client"):
            failures.append(now)
            log.warning("failed web UI login from %s", request.remote)
            return _form(target, "Wrong secret.", status=401)
        response = web.HTTPSeeOther(target)
        secure = request.secure
        response.set_cookie(httpauth.COOKIE, token, httponly=True, samesite="Strict",
                            secure=secure, max_age=COOKIE_MAX_AGE, path="/")
        response.set_cookie(httpauth.CSRF_COOKIE, csrf, samesite="Strict", secure=secure,
                            max_age=COOKIE_MAX_AGE, path="/")
        return response

    async def logout(request: web.Request) -> web.StreamResponse:
        response = web.HTTPSeeOther(LOGIN_PATH)
        response.del_cookie(httpauth.COOKIE, path="/")
        response.del_cookie(httpauth.CSRF_COOKIE, path="/")
        return response

    app.router.add_get(LOGIN_PATH, form)
    app.router.add_post(LOGIN_PATH, login)
    app.router.add_post(LOGOUT_PATH, logout)


def _local(target: str) -> str:
    """Only paths of this site after login (no open redirect to another host)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _form(target: str, error: str = "", status: int = 200) -> web.Response:
    body = FORM.format(next=html.escape(_local(target)),
                       error=f'<p class="error">{html.escape(error)}</p>' if error else "")
    return web.Response(text=body, status=status, content_type="text/html",
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": "default-src 'self'; "
                                 "frame-ancestors 'none'"})
