"""With DISCO_SECRET set, every endpoint family refuses a stranger and lets us in.

One real cluster (master + two node processes on 127.0.0.2/3, each with its data server
and DDFS PUT server) with a secret. Each family is tried without a credential (401 naming
DISCO_SECRET), with a wrong one, and with ours: master REST, DDFS master, the nodes' data
servers (DISCO_PORT) and PUT servers (DDFS_PUT_PORT), the node link (an impostor's hello
is challenged and refused; the real node keeps its link), the web UI (login form, cookie
flags, CSRF). Then a job whose workers read `disco://` and `tag://` inputs and save to DDFS
runs end to end, which needs the job token the node gives its workers.
"""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from io import BytesIO

import aiohttp
import pytest
from jobs import wordcount

from disco import auth
from disco.core import result_iterator
from disco.ddfs import DDFS
from disco.job import Job
from disco.worker.classic.func import chain_reader
from disco.protocol import cluster as link

pytestmark = [pytest.mark.timeout(180)]

SECRET = "test-secret-" + uuid.uuid4().hex
TOKEN = auth.client_token(SECRET)
HOSTS = ("127.0.0.2", "127.0.0.3")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def call(url: str, method: str = "GET", body: bytes | None = None,
         headers: dict | None = None) -> tuple[int, bytes, object]:
    """(status, body, headers) of one request, errors included."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with OPENER.open(request, timeout=10) as reply:
            return reply.status, reply.read(), reply.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


BEARER = {"Authorization": f"Bearer {TOKEN}"}
WRONG = {"Authorization": f"Bearer {auth.client_token('another secret')}"}


@pytest.fixture(scope="module")
def secure(tmp_path_factory, request):
    from tests.conftest import cluster_kind
    local = cluster_kind(request)(tmp_path_factory.mktemp("secure"), hosts=HOSTS,
                         settings={"DISCO_SECRET": SECRET})
    local.start(timeout=60)
    yield local
    local.stop()


@pytest.fixture
def env(secure, monkeypatch):
    from tests.conftest import use_cluster_environment
    use_cluster_environment(monkeypatch, secure)
    return secure


def endpoints(cluster) -> list[tuple[str, str, str, bytes | None]]:
    """(family, method, url, body): one or more requests of each endpoint family."""
    master, node = cluster.master_url, f"http://{HOSTS[0]}"
    delete = json.dumps({"objects": [["blob", "vol0", "x$1-2-3"]]}).encode()
    return [
        ("master REST", "GET", f"{master}/disco/ctrl/joblist", None),
        ("master REST", "POST", f"{master}/disco/job/new", b"garbage"),
        ("master REST", "POST", f"{master}/disco/ctrl/blacklist", b'"127.0.0.2"'),
        ("master REST", "POST", f"{master}/disco/ctrl/save_config_table", b"[]"),
        ("master REST", "GET", f"{master}/disco/ctrl/get_settings", None),
        ("DDFS master", "GET", f"{master}/ddfs/tags", None),
        ("DDFS master", "DELETE", f"{master}/ddfs/tag/some-tag", None),
        ("node data server", "GET", f"{node}:{cluster.port}/disco/{HOSTS[0]}/none", None),
        ("node data server", "GET", f"{node}:{cluster.port}/ddfs/vol0/none", None),
        ("node PUT server", "POST", f"{node}:{cluster.put_port}/ddfs/internal/delete", delete),
        ("node PUT server", "PUT", f"{node}:{cluster.put_port}/ddfs/vol0/blob/x", b"data"),
        ("node link", "GET", f"{master}{link.WS_PATH}", None),
        ("web UI", "GET", f"{master}/", None),
        ("web UI", "GET", f"{master}/openapi.json", None),
    ]


def test_every_family_refuses_requests_without_the_secret(secure):
    for family, method, url, body in endpoints(secure):
        for headers in ({}, WRONG, {"X-Disco-Auth": "job.x.0000"}):
            status, text, _ = call(url, method, body, headers)
            assert status == 401, (family, method, url, headers, status, text)
            assert b"DISCO_SECRET" in text, (family, url, text)


def test_every_family_accepts_our_token(secure):
    for family, method, url, body in endpoints(secure):
        if method != "GET" or family == "node link":
            continue  # state changes: the job below; the link: its challenge (nodes connect)
        status, text, _ = call(url, method, body, BEARER)
        assert status in (200, 404), (family, url, status, text)
        assert b"DISCO_SECRET" not in text


def test_url_prefix_lets_tokenless_clients_in(secure):
    """Disco 0.5.4's client: DISCO_MASTER=http://host:port/_secret/<token>."""
    base = f"{secure.master_url}/_secret/{TOKEN}"
    status, text, _ = call(f"{base}/disco/ctrl/joblist")
    assert status == 200 and isinstance(json.loads(text), list)
    status, text, _ = call(f"{base}/disco/ctrl/jobinfo?name=no@such:job")
    assert status in (200, 404) and b"DISCO_SECRET" not in text
    status, text, _ = call(f"{secure.master_url}/_secret/{'0' * 64}/disco/ctrl/joblist")
    assert status == 401 and b"DISCO_SECRET" in text


def test_an_impostor_node_is_refused_and_the_real_one_keeps_its_link(secure):
    async def impostor() -> dict:
        async with aiohttp.ClientSession() as http:
            url = secure.master_url.replace("http://", "ws://") + link.WS_PATH
            async with http.ws_connect(url) as ws:
                await ws.send_str(link.encode(link.hello(HOSTS[0], 1, "0", nonce="n")))
                challenge = json.loads((await ws.receive(timeout=10)).data)
                assert challenge["op"] == link.CHALLENGE
                await ws.send_str(link.encode(link.auth("0" * 64)))
                return json.loads((await ws.receive(timeout=10)).data)

    before = secure.nodeinfo()
    reply = asyncio.run(impostor())
    assert reply["op"] == link.REJECT and "DISCO_SECRET" in reply["reason"]
    assert secure.connected_hosts() == set(HOSTS)
    assert before.keys() == secure.nodeinfo().keys()


def test_web_ui_login_cookie_and_csrf(secure):
    master = secure.master_url
    status, _, headers = call(f"{master}/config.html", headers={"Accept": "text/html"})
    assert status == 303 and headers["Location"].startswith("/_login?next=/config.html")
    status, text, _ = call(f"{master}/_login")
    assert status == 200 and b'type="password"' in text
    form = urllib.parse.urlencode({"secret": "wrong", "next": "/"}).encode()
    status, _, headers = call(f"{master}/_login", "POST", form)
    assert status == 401 and "Set-Cookie" not in headers
    form = urllib.parse.urlencode({"secret": SECRET, "next": "/config.html"}).encode()
    status, _, headers = call(f"{master}/_login", "POST", form)
    assert status == 303 and headers["Location"] == "/config.html"
    cookies = {c.split("=", 1)[0]: c for c in headers.get_all("Set-Cookie")}
    session = cookies["disco_auth"]
    assert "HttpOnly" in session and "SameSite=Strict" in session and SECRET not in session
    assert "HttpOnly" not in cookies["disco_csrf"]
    jar = "; ".join(c.split(";", 1)[0] for c in cookies.values())
    csrf = cookies["disco_csrf"].split(";", 1)[0].split("=", 1)[1]
    status, text, _ = call(f"{master}/config.html", headers={"Cookie": jar})
    assert status == 200 and SECRET.encode() not in text
    status, text, _ = call(f"{master}/disco/ctrl/get_settings", headers={"Cookie": jar})
    assert status == 200 and SECRET.encode() not in text and TOKEN.encode() not in text
    # a state change on the cookie alone (what another site could make a browser send)
    body = json.dumps({"max_failure_rate": 3}).encode()
    status, text, _ = call(f"{master}/disco/ctrl/save_settings", "POST", body,
                           {"Cookie": jar, "Content-Type": "application/json"})
    assert status == 403 and b"X-Disco-CSRF" in text
    status, text, _ = call(f"{master}/disco/ctrl/save_settings", "POST", body,
                           {"Cookie": jar, "X-Disco-CSRF": csrf})
    assert status == 200, text


def test_a_job_token_reads_but_cannot_submit(secure):
    token = auth.job_token(SECRET, "some@job")
    status, _, _ = call(f"{secure.master_url}/disco/ctrl/joblist",
                        headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    status, text, _ = call(f"{secure.master_url}/disco/job/new", "POST", b"x",
                           {"Authorization": f"Bearer {token}"})
    assert status == 403 and b"DISCO_SECRET" in text
    for method, path in (("DELETE", "/ddfs/tag/some-tag"), ("GET", "/ddfs/ctrl/gc_start"),
                         ("POST", "/disco/ctrl/kill_job")):
        status, _, _ = call(f"{secure.master_url}{path}", method, b'"x"' if method == "POST"
                            else None, {"Authorization": f"Bearer {token}"})
        assert status == 403, (method, path, status)
    forged = token[:-4] + "0000"
    status, _, _ = call(f"{secure.master_url}/disco/ctrl/joblist",
                        headers={"Authorization": f"Bearer {forged}"})
    assert status == 401


def test_jobs_and_ddfs_work_with_the_secret(env):
    """Our client, nodes and workers send credentials: a job reading a DDFS tag and
    saving its results to DDFS runs, and its results are read back."""
    ddfs = DDFS()
    tag = f"test:secure:{uuid.uuid4().hex[:8]}"
    ddfs.push(tag, [(BytesIO(b"the quick the end\n"), "one"), (BytesIO(b"the dog\n"), "two")])
    job = Job().run(input=[f"tag://{tag}"], map=wordcount.fun_map,
                    reduce=wordcount.fun_reduce, save_results=True)
    results = dict(result_iterator(job.wait(timeout=120)))
    assert results == {b"the": 3, b"quick": 1, b"end": 1, b"dog": 1}
    second = Job().run(input=job.wait(timeout=10), map=lambda kv, params: [kv],
                       map_reader=chain_reader)
    assert dict(result_iterator(second.wait(timeout=120))) == results
    ddfs.delete(tag)


def environment_map(line, params):
    import hashlib
    import os
    hashes = {hashlib.sha256(v.encode()).hexdigest() for v in os.environ.values()}
    yield params in hashes or "DISCO_SECRET" in os.environ, 0
    yield os.environ.get("DISCO_JOB_TOKEN", "").startswith("job."), 1


def test_workers_get_a_job_token_never_the_secret(env):
    import hashlib
    job = Job().run(input=["raw://one"], map=environment_map,
                    params=hashlib.sha256(SECRET.encode()).hexdigest())
    found = dict((key, value) for value, key in result_iterator(job.wait(timeout=120)))
    assert found == {0: False, 1: True}
    assert SECRET not in str(Job(name=job.name).jobinfo())


def test_the_secret_and_token_are_never_logged(secure):
    import pathlib
    for log in pathlib.Path(secure.log_dir).iterdir():
        text = log.read_text(errors="replace")
        assert SECRET not in text and TOKEN not in text, log


def test_the_embedded_default_shape_with_a_secret(cluster):
    """Master plus a co-located node on localhost (what `disco start` runs by default)."""
    local = cluster(hosts=("localhost",), settings={"DISCO_SECRET": SECRET})
    ddfs = DDFS()
    tag = f"test:secure:local:{uuid.uuid4().hex[:8]}"
    ddfs.push(tag, [(BytesIO(b"x y x\n"), "one")])
    job = Job().run(input=[f"tag://{tag}"], map=wordcount.fun_map, reduce=wordcount.fun_reduce)
    assert dict(result_iterator(job.wait(timeout=120))) == {b"x": 2, b"y": 1}
    status, text, _ = call(f"{local.master_url}/disco/ctrl/jobinfo?name={job.name}")
    assert status == 401 and b"DISCO_SECRET" in text
    status, _, _ = call(f"http://localhost:{local.put_port}/ddfs/internal/df")
    assert status == 401


def test_command_lines_send_the_secret(secure):
    import subprocess
    import sys
    env = secure.client_env()
    for argv in ([sys.executable, "-m", "disco", "nodeinfo"],
                 [sys.executable, "-m", "disco.cli.ddfs", "ls"]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (argv, done.stderr)
        stranger = {k: v for k, v in env.items() if k != "DISCO_SECRET"}
        refused = subprocess.run(argv, env=stranger, capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "DISCO_SECRET" in refused.stderr, (argv, refused)
