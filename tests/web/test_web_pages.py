"""Page routes, static files, security headers and the JSON the pages read (no real master)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import disco.web
from disco.web.metrics import render_metrics
from web_helpers import run_in_thread
from fake_master import FakeMaster

STATIC = Path(disco.web.__file__).parent / "static"
PAGES = ["/", "/index.html", "/job.html", "/config.html", "/ddfs.html"]


def run(coroutine_function):
    """Run `coroutine_function(client)` against an app with only the web UI mounted."""
    async def main():
        app = web.Application()
        disco.web.setup(app, None, None)
        async with TestClient(TestServer(app)) as client:
            return await coroutine_function(client)
    return run_in_thread(main)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path", PAGES)
def test_page_is_served_with_security_headers(path):
    async def check(client):
        response = await client.get(path)
        assert response.status == 200
        assert response.content_type == "text/html"
        csp = response.headers["Content-Security-Policy"]
        assert (
            "script-src 'self'" in csp
            and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        )
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        html = await response.text()
        for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            asset = await client.get(src)
            assert asset.status == 200, src
        return html
    html = run(check)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), (
        "inline scripts would be blocked by the CSP"
    )
    assert not re.search(r"\son\w+=", html), "inline event handlers would be blocked by the CSP"


@pytest.mark.timeout(30)
def test_openapi_json_is_served():
    async def check(client):
        response = await client.get("/openapi.json")
        assert response.status == 200
        return await response.json()
    document = run(check)
    assert document["openapi"].startswith("3.")
    assert "/disco/ctrl/jobinfo" in document["paths"]


@pytest.mark.timeout(30)
def test_unknown_static_file_is_404():
    async def check(client):
        return (await client.get("/static/nope.js")).status, (
            await client.get("/static/../__init__.py")
        ).status

    assert run(check) == (404, 404)


@pytest.mark.timeout(10)
def test_scripts_never_parse_strings_as_html():
    """Job names, events and tags reach the DOM only through textContent and attributes."""
    for script in STATIC.glob("*.js"):
        text = script.read_text()
        for sink in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ):
            assert sink not in text, f"{script.name} uses {sink}"


@pytest.mark.timeout(10)
def test_pages_use_no_external_resources():
    for page in STATIC.glob("*.html"):
        assert not re.search(r'(src|href)="(https?:)?//', page.read_text()), page.name


@pytest.mark.timeout(30)
def test_fake_master_serves_documented_shapes():
    """The harness the browser tests can fall back to speaks the JSON of DISCO.md §3."""
    master = FakeMaster()
    job = master.add_job("Fake@1:2:3")

    async def main():
        async with TestClient(TestServer(master.app())) as client:
            info = await (await client.get("/disco/ctrl/jobinfo", params={"name": job.name})).json()
            missing = await client.get("/disco/ctrl/jobinfo", params={"name": "nope"})
            nodes = await (await client.get("/disco/ctrl/nodeinfo")).json()
            bad = await client.post("/disco/ctrl/save_config_table", data=json.dumps([["a", "x"]]))
            return info, missing.status, nodes, bad.status
    info, missing, nodes, bad = run_in_thread(main)
    assert set(info) >= {
        "timestamp",
        "active",
        "pipeline",
        "results",
        "inputs",
        "worker",
        "hosts",
        "owner",
    }
    assert missing == 404 and bad == 400
    assert set(nodes) == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}


@pytest.mark.timeout(10)
def test_metrics_text_rendering():
    nodeinfo = {
        "127.0.0.2": {
            "job_ok": 3,
            "data_error": 1,
            "error": 0,
            "max_workers": 2,
            "connected": True,
            "blacklisted": False,
            "tasks": ["J@1:2:3"],
            "diskfree": 10,
            "diskused": 2,
        },
        'we"ird': {"max_workers": 1, "connected": False, "blacklisted": True},
    }
    text = render_metrics(nodeinfo, [[1, "active", "J@1:2:3"], [0, "ready", "K@1:2:3"]],
                          {"J@1:2:3": [["map", 0, 1, 1, 2, 0]]})
    assert 'disco_node_up{host="127.0.0.2"} 1' in text
    assert 'disco_node_up{host="we\\"ird"} 0' in text
    assert 'disco_node_busy_slots{host="127.0.0.2"} 1' in text
    assert 'disco_node_tasks_total{host="127.0.0.2",outcome="data_error"} 1' in text
    assert 'disco_node_ddfs_bytes{host="127.0.0.2",state="free"} 10240' in text
    assert 'disco_jobs{status="active"} 1' in text
    assert 'disco_stage_tasks{job="J@1:2:3",stage="map",state="done"} 2' in text
    for line in text.splitlines():
        assert line.startswith("#") or re.match(r'^[a-z_]+(\{.*\})? -?[0-9.e+]+$', line), line
