"""REST tests against a real master process (no nodes) on a free port in a tmp root."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from disco import settings_table
from disco.protocol import jobpack
from disco.testing import free_port, poll_for

pytestmark = pytest.mark.timeout(60)


class MasterProcess:
    def __init__(self, root, config=()):
        self.port = free_port()
        self.root = str(root)
        self.env = dict(os.environ, DISCO_HOME=self.root, DISCO_ROOT=self.root,
                        DISCO_PORT=str(self.port), DDFS_PUT_PORT=str(free_port(avoid={self.port})),
                        DISCO_MASTER_HOST="127.0.0.1", DISCO_EVENTS_FLUSH_INTERVAL="0.2",
                        DISCO_SETTINGS_FILE=os.path.join(self.root, "no-settings"))
        with open(os.path.join(self.root, f"disco_{self.port}.config"), "w") as f:
            json.dump(list(config), f)
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        code = ("from disco.master.app import main; from disco.settings import DiscoSettings; "
                "main(DiscoSettings())")
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=self.env)
        poll_for(self.answers, 20, message="master did not start")
        return self

    def answers(self) -> bool:
        try:
            self.get("/disco/version")
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)

    def request(self, path, body=None, method=None):
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=5) as r:
            return json.loads(r.read())


@pytest.fixture
def master(tmp_path):
    m = MasterProcess(tmp_path).start()
    yield m
    m.stop()


def pack(**overrides) -> bytes:
    jobdict = {"prefix": "T", "worker": "w", "owner": "me", "scheduler": {},
               "pipeline": [["map", "split", False]], "inputs": [[0, 0, ["raw://a"]]]}
    jobdict.update(overrides)
    return jobpack.pack(jobpack.VERSION2, jobdict, {}, b"", b"")


def test_job_new_errors(master):
    status, body = master.request("/disco/job/new", b"garbage")
    assert status == 200 and json.loads(body) == ["error", "Job failed to start: invalid header"]
    status, body = master.request("/disco/job/new", pack(prefix="a.b"))
    assert json.loads(body) == ["error", "Job failed to start: invalid prefix"]
    bad = jobpack.pack(jobpack.VERSION2, {"prefix": "T"}, {}, b"", b"")
    assert "jobpack missing key" in json.loads(master.request("/disco/job/new", bad)[1])[1]


def test_job_lifecycle_without_nodes(master):
    status, body = master.request("/disco/job/new", pack())
    ok, name = json.loads(body)
    assert ok == "ok" and name.startswith("T@")
    assert master.get("/disco/ctrl/joblist")[0][1:] == ["active", name]
    info = master.get(f"/disco/ctrl/jobinfo?name={name}")
    assert info["active"] == "active" and info["pipeline"][0][0] == "map"
    status, body = master.request("/disco/ctrl/get_results", [100, [name, "nope@1:2:3"]])
    assert json.loads(body) == [[name, ["active", []]], ["nope@1:2:3", ["unknown job", []]]]
    status, raw = master.request(f"/disco/ctrl/parameters?name={name}")
    assert raw == pack()
    assert master.request("/disco/ctrl/kill_job", name)[0] == 200
    poll_for(lambda: "WARN: Job killed" in [e[2] for e in master.get(
        f"/disco/ctrl/jobevents?name={name}&num=100")], 10, message="no kill event")
    events = master.get(f"/disco/ctrl/jobevents?name={name}&num=100")
    messages = [e[2] for e in events]
    assert "WARN: Job killed" in messages and "New job initialized!" == messages[-1]
    status, raw = master.request(f"/disco/ctrl/rawevents?name={name}")
    assert raw.decode().startswith('["')
    assert master.get(f"/disco/ctrl/jobtasks?name={name}")["tasks"][0]["status"] == "dropped"
    assert master.request("/disco/ctrl/purge_job", name)[0] == 200
    assert master.request(f"/disco/ctrl/jobinfo?name={name}")[0] == 404


def test_unknown_jobs_and_bad_bodies(master):
    assert master.request("/disco/ctrl/jobinfo?name=x@1:2:3")[0] == 404
    assert master.request("/disco/ctrl/kill_job", "x@1:2:3")[0] == 404
    assert master.request("/disco/ctrl/kill_job", b"{not json")[0] == 400
    assert master.request("/disco/ctrl/get_results", {"a": 1})[0] == 400
    assert master.request("/disco/ctrl/nonsense")[0] == 404


def test_config_table(master):
    status, body = master.request("/disco/ctrl/save_config_table", [["n01:02", "2"], ["n02", "1"]])
    assert status == 400 and json.loads(body) == "duplicate nodes"
    status, body = master.request("/disco/ctrl/save_config_table", [["n01", "x"]])
    assert status == 400 and json.loads(body) == "invalid config"
    status, body = master.request("/disco/ctrl/save_config_table", [["n01:02", "2"]])
    assert json.loads(body) == "table saved!"
    assert master.get("/disco/ctrl/load_config_table") == [["n01:02", "2"]]
    assert set(master.get("/disco/ctrl/nodeinfo")) == {"n01", "n02"}
    master.request("/disco/ctrl/blacklist", "n01")
    assert master.get("/disco/ctrl/get_blacklist") == ["n01"]
    assert master.get("/disco/ctrl/nodeinfo")["n01"]["blacklisted"] is True
    master.request("/disco/ctrl/whitelist", "n01")
    assert master.get("/disco/ctrl/get_blacklist") == []


def test_settings_and_accept_new_jobs(master):
    assert master.get("/disco/ctrl/get_settings") == {"max_failure_rate": 100,
                                                      "accept_new_jobs": 1}
    status, body = master.request("/disco/ctrl/save_settings", {"accept_new_jobs": "0"})
    assert json.loads(body) == "Settings saved"
    assert master.request("/disco/job/new", pack())[0] == 403
    assert master.request("/disco/ctrl/save_settings", {"max_failure_rate": "x"})[0] == 400


def test_settings_table_shows_every_setting_with_the_masters_value(master):
    rows = {row["name"]: row for row in master.get("/disco/ctrl/settings")}
    assert set(rows) == {setting.name for setting in settings_table.SETTINGS}
    port = rows["DISCO_PORT"]
    assert (str(port["value"]), port["type"], port["default"]) == (str(master.port), "int", "8989")
    assert rows["DISCO_DATA"]["default"] == "$DISCO_ROOT/data" and rows["DISCO_DATA"]["help"]


def test_jobs_survive_restart(tmp_path):
    m = MasterProcess(tmp_path).start()
    try:
        name = json.loads(m.request("/disco/job/new", pack())[1])[1]
    finally:
        m.stop()
    m.start()
    try:
        # an active job is resumed (it waits for nodes: this master has none)
        assert m.get("/disco/ctrl/joblist")[0][1:] == ["active", name]
        messages = [e[2] for e in m.get(f"/disco/ctrl/jobevents?name={name}&num=100")]
        assert any("resumed after a master restart" in msg for msg in messages)
        status, _body = m.request("/disco/ctrl/kill_job", name)
        assert status == 200
        assert m.get("/disco/ctrl/joblist")[0][1:] == ["dead", name]
    finally:
        m.stop()


BAD_SHAPES = [None, 1, -1, 1.5, True, "x", "", [], [1], [1, 2, 3], {}, {"a": 1}, [[1, 2]],
              [["h", "1"], 1], [None, ["x"]], [1000, "x"], [1000, [1]], [1e308, []],
              {"max_failure_rate": [1]}, {"max_failure_rate": None}, [["h:1:2", "1"]],
              [["h", "-1"]], [["h", True]], [["h", {}]], ["h", "h"]]
CTRL_POSTS = ["get_results", "kill_job", "purge_job", "clean_job", "blacklist", "whitelist",
              "gc_blacklist", "gc_whitelist", "save_config_table", "save_settings"]


def test_ctrl_posts_with_wrong_shapes_are_400_never_500(master):
    """Every ctrl POST answers a wrong JSON shape with 400 (or 404 for unknown jobs)."""
    for op in CTRL_POSTS:
        for body in BAD_SHAPES:
            status, reply = master.request(f"/disco/ctrl/{op}", body)
            assert status in (200, 400, 404), (op, body, status, reply)
            if status == 400:
                assert json.loads(reply), (op, body)  # a message, not an empty body
        status, _reply = master.request(f"/disco/ctrl/{op}", b"{not json")
        assert status == 400, op
    status, _reply = master.request("/disco/job/new", b"\x00" * 10)
    assert status == 200 and json.loads(_reply)[0] == "error"
    # the master is still healthy
    assert master.get("/disco/version")


def test_large_job_pack_is_read_whole(master):
    """A job pack arrives in many TCP reads; the master must read to the end (bench found
    a 10,000-input job pack truncated into "invalid header")."""
    inputs = [[0, 0, [f"raw://{i:06d}" + "x" * 200]] for i in range(20000)]
    big = jobpack.pack(jobpack.VERSION2, {
        "prefix": "Big", "worker": "w", "owner": "me", "scheduler": {},
        "pipeline": [["map", "split", False]], "inputs": inputs}, {}, b"z" * (4 << 20), b"")
    assert len(big) > 8 << 20
    status, body = master.request("/disco/job/new", big)
    ok, name = json.loads(body)
    assert (status, ok) == (200, "ok"), body
    status, raw = master.request(f"/disco/ctrl/parameters?name={name}")
    assert raw == big
