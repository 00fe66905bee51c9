"""disco.serving.serve_file: GET/HEAD, Range, unsafe paths."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from disco.serving import is_safe_relpath, serve_file

pytestmark = pytest.mark.timeout(30)


async def _with_server(root, check):
    async def handler(request: web.Request) -> web.StreamResponse:
        return await serve_file(request, str(root), request.match_info["path"])

    app = web.Application()
    app.router.add_get("/disco/{path:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            await check(http, f"http://127.0.0.1:{port}/disco/")
    finally:
        await runner.cleanup()


@pytest.fixture
def root(tmp_path):
    (tmp_path / "h" / "ab").mkdir(parents=True)
    (tmp_path / "h" / "ab" / "blob$1").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "h" / "ab" / "blob$1.gz").write_bytes(b"not this one")
    (tmp_path / "secret").write_text("x")
    return tmp_path


def test_get_head_and_range(root):
    async def check(http, base):
        url = base + "ab/blob$1"
        async with http.get(url, headers={"Accept-Encoding": "gzip"}) as r:
            assert r.status == 200
            assert await r.read() == bytes(range(256)) * 4  # never the .gz sibling
        async with http.head(url) as r:
            assert r.status == 200 and r.headers["Content-Length"] == "1024"
            assert await r.read() == b""
        async with http.get(url, headers={"Range": "bytes=10-19"}) as r:
            assert r.status == 206
            assert await r.read() == bytes(range(10, 20))
            assert r.headers["Content-Range"] == "bytes 10-19/1024"
        async with http.get(url, headers={"Range": "bytes=1000-"}) as r:
            assert r.status == 206 and len(await r.read()) == 24
        async with http.get(url, headers={"Range": "bytes=5000-6000"}) as r:
            assert r.status == 416
    asyncio.run(_with_server(root / "h", check))


def test_missing_directory_and_unsafe_paths(root):
    async def check(http, base):
        async with http.get(base + "ab/nothing") as r:
            assert r.status == 404
        async with http.get(base + "ab") as r:
            assert r.status in (403, 404)
        async with http.get(base + "ab/..%2F..%2Fsecret") as r:
            assert r.status in (403, 404)
    asyncio.run(_with_server(root / "h", check))


def test_safe_relpath():
    assert is_safe_relpath("h/ab/job/out")
    assert is_safe_relpath("vol0/blob/ab/x$1-2")
    assert not is_safe_relpath("")
    assert not is_safe_relpath("/etc/passwd")
    assert not is_safe_relpath("a/../../etc")
    assert not is_safe_relpath("..")
    assert not is_safe_relpath("a\x00b")


def test_unsafe_path_is_403(root):
    # aiohttp's client normalises '..' out of URLs, so the handler is called directly
    async def direct():
        request = make_mocked_request("GET", "/disco/x")
        response = await serve_file(request, str(root / "h"), "ab/../../secret")
        assert response.status == 403
        response = await serve_file(request, str(root / "h"), "/etc/passwd")
        assert response.status == 403
    asyncio.run(direct())
