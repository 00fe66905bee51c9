"""Submit small jobs to a real master for the web UI tests (job packs built by hand)."""
from __future__ import annotations

import json
import os
import urllib.request

from tests.worker_protocol import jobpack_for

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web_worker.py")


def build(prefix: str, seconds: list[float], reduce: bool = True) -> bytes:
    """A v2 pipeline job pack: one map task per input sleeping `seconds[i]`, then one reduce."""
    pipeline = [["map", "split"]] + ([["reduce", "group_all"]] if reduce else [])
    return jobpack_for(WORKER, prefix, pipeline, [f"raw://{s}" for s in seconds],
                       owner="webtest@localhost")


def submit(master_url: str, prefix: str, seconds: list[float], reduce: bool = True) -> str:
    request = urllib.request.Request(
        f"{master_url}/disco/job/new", data=build(prefix, seconds, reduce), method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        status, name = json.loads(reply.read())
    assert status == "ok", name
    return name


def get_json(master_url: str, path: str):
    with urllib.request.urlopen(f"{master_url}{path}", timeout=10) as reply:
        return json.loads(reply.read())
