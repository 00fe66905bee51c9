"""The example C worker (examples/c_worker/worker.c): built with the documented command,
first driven by a scripted node over the worker protocol, then run on a real cluster
through `disco job` (a raw version-1 job pack)."""
from __future__ import annotations

import json
import subprocess
import urllib.request
from collections import Counter

import pytest

from disco.protocol.framing import encode
from tests.cli.helpers import build_c_worker, disco

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def c_worker(tmp_path_factory):
    return build_c_worker(tmp_path_factory.mktemp("c-worker"))


class ScriptedNode:
    """Plays the node's side of the worker protocol against a worker process."""

    def __init__(self, worker, cwd, task, inputs):
        self.process = subprocess.Popen([str(worker)], cwd=cwd, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.task, self.inputs, self.messages = task, inputs, []

    def read(self):
        stream = self.process.stdout
        name = b"".join(iter(lambda: stream.read(1), b" "))
        length = int(b"".join(iter(lambda: stream.read(1), b" ")))
        payload = json.loads(stream.read(length))
        assert stream.read(1) == b"\n"
        return name.decode(), payload

    def reply(self, name, payload):
        self.process.stdin.write(encode(name, payload))
        self.process.stdin.flush()

    def run(self):
        while True:
            name, payload = self.read()
            self.messages.append((name, payload))
            if name == "WORKER":
                assert payload["version"] == "1.1" and payload["pid"] == self.process.pid
                self.reply("OK", "ok")
            elif name == "TASK":
                self.reply("TASK", self.task)
            elif name == "INPUT":
                self.reply("INPUT", ["done", self.inputs])
            elif name in ("OUTPUT", "MSG"):
                self.reply("OK", "ok")
            elif name == "INPUT_ERR":
                self.reply("FAIL", "")
            else:
                self.process.stdin.close()
                self.process.wait(10)
                return name, payload


def task_message(tmp_path, stage="map"):
    return {"taskid": 7, "master": "http://127.0.0.1:1", "disco_port": 1, "put_port": 2,
            "ddfs_data": str(tmp_path), "disco_data": str(tmp_path), "stage": stage,
            "grouping": "split", "group": [0, ""], "jobfile": str(tmp_path / "jobfile"),
            "jobname": "C@1:2:3", "host": "127.0.0.9"}


def test_worker_protocol_session(c_worker, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("b a\nc a\n")
    inputs = [[0, "ok", 0, [[0, "raw://a"]]],
              [1, "ok", 0, [[0, f"file:///nonexistent/{tmp_path.name}"], [1, f"file://{text}"]]]]
    node = ScriptedNode(c_worker, tmp_path, task_message(tmp_path), inputs)
    last, _payload = node.run()
    assert last == "DONE"
    names = [name for name, _ in node.messages]
    assert names == ["WORKER", "TASK", "INPUT", "OUTPUT", "MSG", "DONE"]
    label, path, size = dict(node.messages)["OUTPUT"]
    assert label == 0 and not path.startswith("/")
    output = (tmp_path / path).read_text()
    assert len(output.encode()) == size
    assert output == "a 3\nb 1\nc 1\n"


def test_worker_reports_unreadable_input_as_error(c_worker, tmp_path):
    inputs = [[0, "ok", 0, [[0, "file:///nonexistent/x"]]]]
    node = ScriptedNode(c_worker, tmp_path, task_message(tmp_path), inputs)
    last, payload = node.run()
    assert last == "ERROR"
    assert "replica" in payload
    assert ("INPUT_ERR", [0, [0]]) in node.messages


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read().decode()


def http_url(cluster, url: str) -> str:
    """disco://HOST/path and dir://HOST/path -> http://HOST:DISCO_PORT/path"""
    scheme, rest = url.split("://", 1)
    host, path = rest.split("/", 1)
    assert scheme in ("disco", "dir", "http"), url
    return url if scheme == "http" else f"http://{host}:{cluster.port}/{path}"


def read_counts(cluster, result_urls) -> Counter:
    counts: Counter = Counter()
    for url in result_urls:
        if url.startswith("dir://"):
            for line in fetch(http_url(cluster, url)).splitlines():
                _label, data_url, _size = line.split()
                counts.update(parse_counts(fetch(http_url(cluster, data_url))))
        else:
            counts.update(parse_counts(fetch(http_url(cluster, url))))
    return counts


def parse_counts(text: str) -> Counter:
    return Counter(
        {word: int(n) for word, n in (line.rsplit(" ", 1) for line in text.splitlines())}
    )


def test_c_worker_job_on_cluster(shared_cluster, c_worker, tmp_path):
    """map + reduce on three nodes: the counts equal a local count."""
    files = []
    expected: Counter = Counter()
    for i in range(4):
        path = tmp_path / f"part{i}.txt"
        text = "".join(f"w{(i * 7 + j) % 13} common word{j % 3}\n" for j in range(200))
        path.write_text(text)
        expected.update(text.split())
        files.append(f"file://{path}")
    submitted = disco(shared_cluster, "job", "-m", "-r", "-n", "1", "-p", "CWordCount",
                      str(c_worker), *files)
    jobname = submitted.stdout.strip()
    assert jobname.startswith("CWordCount@")
    waited = disco(shared_cluster, "wait", jobname, timeout=110)
    results = [line.split("\t")[0] for line in waited.stdout.splitlines() if line]
    assert results, waited.stdout
    assert read_counts(shared_cluster, results) == expected
    events = disco(shared_cluster, "events", jobname).stdout
    assert "C worker map:" in events


def test_c_worker_map_only_with_stdin_inputs(shared_cluster, c_worker):
    """Inputs from stdin (a line of several URLs = replicas of one input); map-only:
    the results are the map outputs."""
    submitted = disco(shared_cluster, "job", "-m", str(c_worker),
                      input="raw://x\nraw://y raw://y\nraw://z\nraw://x\n")
    jobname = submitted.stdout.strip()
    waited = disco(shared_cluster, "wait", jobname, timeout=110)
    results = [line.split("\t")[0] for line in waited.stdout.splitlines() if line]
    assert read_counts(shared_cluster, results) == Counter({"x": 2, "y": 1, "z": 1})
