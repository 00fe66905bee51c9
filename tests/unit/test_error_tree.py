"""One error tree: every exception class of the package derives from DiscoError, and one
middleware (disco.httperrors) renders any of them as Disco's reply."""
from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import pkgutil
import urllib.error
import urllib.request

import pytest
from aiohttp import web

import disco
from disco import ddfs, error, httperrors
from disco.ddfs_server import tags
from disco.testing import free_port

pytestmark = pytest.mark.timeout(60)


def package_modules():
    for info in pkgutil.walk_packages(disco.__path__, "disco."):
        try:
            yield importlib.import_module(info.name)
        except ImportError:  # an optional dependency (hdfs, redis, ...) is not installed
            continue


def test_every_exception_class_derives_from_disco_error():
    outside = sorted(
        f"{module.__name__}.{name}"
        for module in package_modules()
        for name, value in vars(module).items()
        if inspect.isclass(value) and issubclass(value, BaseException)
        and value.__module__ == module.__name__ and not issubclass(value, error.DiscoError))
    assert not outside, f"exceptions outside the DiscoError tree: {outside}"


def test_invalid_tag_is_one_class_under_disco_names():
    assert ddfs.InvalidTag is tags.InvalidTag is error.InvalidTag
    with pytest.raises(ddfs.InvalidTag):
        ddfs.canonizetag("not/a/tag")
    assert error.InvalidTag().status == 403 and error.InvalidTag().http_text() == "Invalid tag."


def test_every_error_carries_an_http_status():
    assert error.RequestError("x").status == 400 and error.NotFound("x").status == 404
    assert tags.TagNotFound().status == 404 and tags.Unauthorized().status == 401
    assert error.DataError("m", "u").status == 502 and error.DiscoError().status == 500


async def _reply(app: web.Application, path: str) -> tuple[int, str, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    def get() -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
                return reply.status, reply.headers.get_content_type(), reply.read().decode()
        except urllib.error.HTTPError as failure:
            return failure.code, failure.headers.get_content_type(), failure.read().decode()
    try:
        return await asyncio.to_thread(get)
    finally:
        await runner.cleanup()


def _app(raised: Exception) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        raise raised

    app = web.Application()
    httperrors.install(app)
    httperrors.install(app)  # a second install (master app and DDFS) adds nothing
    app.router.add_get("/{path:.*}", handler)
    return app


def test_middleware_renders_ddfs_errors_as_disco_plain_text():
    status, kind, body = asyncio.run(_reply(_app(tags.InvalidTag()), "/ddfs/tag/x"))
    assert (status, kind, body) == (403, "text/plain", "Invalid tag.")


def test_middleware_renders_master_errors_as_json_strings():
    status, kind, body = asyncio.run(_reply(_app(error.NotFound("unknown job 'j'")),
                                            "/disco/ctrl/jobinfo"))
    assert (status, kind, json.loads(body)) == (404, "application/json", "unknown job 'j'")


def test_other_exceptions_are_not_rendered():
    assert len(_app(ValueError()).middlewares) == 1
    status, _kind, _body = asyncio.run(_reply(_app(ValueError("bug")), "/disco/x"))
    assert status == 500
