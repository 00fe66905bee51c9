"""The aiohttp middleware that makes every server of a cluster refuse strangers.

Server side (aiohttp; imports only layer 0). Applied by the master app (REST, DDFS master,
web UI), the node's data server (DISCO_PORT) and its DDFS PUT server (DDFS_PUT_PORT) when
the cluster has a secret (`disco.auth`). A request is let in with:

* ``Authorization: Bearer <client token>`` or ``X-Disco-Auth: <token>``;
* the URL prefix ``/_secret/<token>/`` (Disco 0.5.4's client: put it in ``DISCO_MASTER``);
  the rest of the path is dispatched as if the prefix were not there;
* the web UI's cookie (`disco.web.login`); a state-changing request (not GET/HEAD) that
  relies on the cookie must also carry ``X-Disco-CSRF`` (the page's JS copies it from the
  readable ``disco_csrf`` cookie), so another site cannot make a logged-in browser act;
* a job token (``DISCO_JOB_TOKEN`` of a worker): reads, and writes to DDFS, only.

Anything else gets 401 (403 for a job token out of its scope, or a missing CSRF header) with
a message naming the setting to set. The node link path is exempt here: the link
authenticates in-band with an HMAC challenge (`disco.master.link`), so the secret and the
token never travel on it.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import quote

import aiohttp
from aiohttp import web

from disco import auth, tls

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: the web UI's session cookie (the client token, HttpOnly) and its CSRF twin (readable)
COOKIE = "disco_auth"
CSRF_COOKIE = "disco_csrf"
CSRF_HEADER = "X-Disco-CSRF"
#: request key: the ``/_secret/<token>`` prefix a request came with (DDFS hands it on in
#: the upload URLs it returns, so that Disco 0.5.4's client can push)
URL_TOKEN = "disco_url_token"
#: methods that change nothing (no CSRF check, allowed to job tokens)
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
#: where a job token may write (POST/PUT): DDFS blobs and tags (workers push and tag
#: outputs); never DELETE, DDFS's control and node-internal endpoints, or a GET that acts
JOB_WRITE_PREFIXES = ("/ddfs/",)
JOB_FORBIDDEN_PREFIXES = ("/ddfs/ctrl/gc_start", "/ddfs/internal/")


def csrf_token(secret: str) -> str:
    return auth.client_token(secret + ":csrf")


def request_token(request: web.Request) -> tuple[str | None, bool]:
    """(token, from_cookie) of a request: header first, then the UI cookie."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip(), False
    extra = request.headers.get("X-Disco-Auth")
    if extra:
        return extra.strip(), False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else (None, False)


def refuse(status: int, message: str) -> web.Response:
    """A JSON string body, like Disco's other errors (clients show it as is)."""
    return web.Response(status=status, text=json.dumps(message), content_type="application/json",
                        headers={"WWW-Authenticate": 'Bearer realm="disco"'} if status == 401
                        else None)


def wants_html(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


def auth_middleware(secret: str, exempt: Iterable[str] = (), login_path: str | None = None,
                    public_read: Callable[[web.Request], bool] | None = None) -> Callable:
    """The middleware for a server of a cluster with `secret`; paths starting with one of
    `exempt` pass unchecked; browsers are sent to `login_path` (if any) when refused;
    `public_read(request)` true: a data read left open (``DISCO_PUBLIC_READS``)."""
    verifier = auth.Verifier(secret)
    csrf = csrf_token(secret)
    exempt = tuple(exempt)
    refusals = RefusalLog()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(auth.URL_PREFIX):
            return await _prefixed(request, verifier)
        if exempt and path.startswith(exempt):
            return await handler(request)
        if public_read is not None and request.method in ("GET", "HEAD") and \
                public_read(request):
            return await handler(request)
        token, from_cookie = request_token(request)
        kind = verifier.kind(token)
        if kind is None:
            if login_path and wants_html(request):
                raise web.HTTPSeeOther(f"{login_path}?next={quote(request.path_qs)}")
            refusals.note(request, "bad token" if token else "no token")
            return refuse(401, f"this Disco cluster requires its secret: {auth.HOW_TO}")
        if kind == "job" and not _job_may(request.method, path):
            return refuse(403, f"a job token may not {request.method} {path}: use the "
                          "cluster's secret (DISCO_SECRET)")
        if from_cookie and request.method not in SAFE_METHODS and \
                not auth.same(request.headers.get(CSRF_HEADER, ""), csrf):
            return refuse(403, f"cross-site request refused: a logged-in browser must send "
                          f"{CSRF_HEADER} (the web UI does; reload the page)")
        request["disco_auth"] = kind
        return await handler(request)

    return check


class RefusalLog:
    """Refused requests, logged at most once per `interval` s (a scan must not flood the log)."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval, self.last, self.count = interval, 0.0, 0

    def note(self, request: web.Request, why: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.interval:
            log.warning("refused %s %s from %s (%s); %d refused since the last report",
                        request.method, request.path, request.remote, why, self.count)
            self.last, self.count = now, 0


def _job_may(method: str, path: str) -> bool:
    if path.startswith(JOB_FORBIDDEN_PREFIXES):
        return False
    return method in SAFE_METHODS or (method in ("POST", "PUT") and
                                      path.startswith(JOB_WRITE_PREFIXES))


async def _prefixed(request: web.Request, verifier: auth.Verifier) -> web.StreamResponse:
    """``/_secret/<token>/<rest>``: serve ``/<rest>`` with the token as a header."""
    token, _, rest = request.raw_path[len(auth.URL_PREFIX):].partition("/")
    if verifier.kind(token) is None:
        return refuse(401, f"bad token in the URL: {auth.HOW_TO}")
    headers = request.headers.copy()
    headers["X-Disco-Auth"] = token
    if headers.get("Authorization", "").startswith("Bearer "):
        del headers["Authorization"]  # the URL's token wins
    inner = request.clone(rel_url="/" + rest, headers=headers)
    inner[URL_TOKEN] = auth.URL_PREFIX + token
    # dispatch again from the router: the prefix matched no route (a private aiohttp
    # method; tests/security/test_auth.py::test_url_prefix covers it)
    return await request.app._handle(inner)


def setup(app: web.Application, settings, exempt: Iterable[str] = (),
          login_path: str | None = None, data_routes: Iterable[str] | None = None) -> bool:
    """Protect `app` when the cluster has a secret; True if it does. The middleware goes
    first, so that nothing else runs for a stranger's request. `data_routes`: canonical
    paths of the routes serving task data and blobs, which ``DISCO_PUBLIC_READS`` opens to
    GET/HEAD (None: every route of `app` but ``/metrics``)."""
    secret = auth.load_secret(settings)
    if not secret:
        return False
    public = None
    if str(settings.get("DISCO_PUBLIC_READS") or "").lower() not in ("", "0", "false", "off"):
        public = _data_route_check(None if data_routes is None else frozenset(data_routes))
    app.middlewares.insert(0, auth_middleware(secret, exempt, login_path, public))
    return True


def _data_route_check(routes: frozenset[str] | None) -> Callable[[web.Request], bool]:
    def is_data(request: web.Request) -> bool:
        route = request.match_info.route
        canonical = route.resource.canonical if route.resource is not None else ""
        if routes is None:
            return canonical != "/metrics" and canonical != ""
        return canonical in routes

    return is_data


def client_session(settings: Any, **kwargs: Any) -> aiohttp.ClientSession:
    """An aiohttp session for a server calling another server of the cluster: it sends the
    client token (when there is a secret) and verifies TLS with ``DISCO_TLS_CA``."""
    token = auth.token_for(settings)
    if token:
        kwargs["headers"] = auth.with_token(kwargs.get("headers"), token)
    if tls.enabled(settings) or settings.get("DISCO_TLS_CA"):
        kwargs.setdefault("connector", aiohttp.TCPConnector(ssl=tls.client_context(settings)))
    return aiohttp.ClientSession(**kwargs)
