"""Workers as another user (issue 12, item 5): with DISCO_WORKER_USER (and DISCO_WORKER_UIDS, one
uid per job) a worker cannot read the node's secret file (0600, root) nor another job's files.
Needs root: the test creates the unprivileged user with useradd."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import zipfile
import io

import pytest

from disco.core import Disco
from disco.node.jobhome import job_home_path
from disco.protocol import jobpack
from disco.testing.cluster import poll_for
from tests.conftest import cluster_kind

pytestmark = pytest.mark.timeout(180)
USER = "discoworker"
UIDS = "231000-231099"
HOST = "127.0.0.2"

#: a worker in sh that speaks just enough of the worker protocol to report what it could read
PROBE = r"""#!/bin/sh
send() { printf '%s %d %s\n' "$1" "${#2}" "$2"; }
send WORKER '{"version": "1.1", "pid": '$$'}'
read -r reply
if cat "$SECRET_FILE" >/dev/null 2>&1; then secret=read; else secret=denied; fi
if cat "$OTHER_FILE" >/dev/null 2>&1; then other=read; else other=denied; fi
if [ -n "$OWN_FILE" ] && cat "$OWN_FILE" >/dev/null 2>&1; then own=read; else own=denied; fi
send FATAL "\"probe uid=$(id -u) groups=$(id -G) secret=$secret other=$other own=$own\""
"""


@pytest.fixture(scope="module")
def worker_user():
    if os.geteuid() != 0:
        pytest.skip("workers as another user need a node running as root (run the tests as root)")
    if shutil.which("useradd") is None:
        pytest.skip("useradd is not installed: cannot create the unprivileged worker user")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        USER], check=True)
    return pwd.getpwnam(USER)


@pytest.fixture
def root_cluster(worker_user, request):
    # pytest's tmp dirs are 0700 root: the worker user could not reach its job home there
    root = tempfile.mkdtemp(prefix="disco-workeruser-", dir="/tmp")
    os.chmod(root, 0o755)
    local = cluster_kind(request)(root, hosts=(HOST,), workers=2,
                         settings={"DISCO_WORKER_USER": USER, "DISCO_WORKER_UIDS": UIDS,
                                   "DISCO_MAX_FAILURES": 1})
    local.start(timeout=60)
    yield local
    try:
        local.check_invariants()
    finally:
        local.stop()
        shutil.rmtree(root, ignore_errors=True)


def home_zip(**files: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buf.getvalue()


def run_probe(disco: Disco, prefix: str, envs: dict, **files: str) -> tuple[str, str]:
    jobdict = {"prefix": prefix, "worker": "w", "owner": "t", "scheduler": {},
               "pipeline": [["map", "split", False]], "inputs": [[0, 0, ["raw://a"]]]}
    name = disco.submit(jobpack.pack(2, jobdict, envs, home_zip(w=PROBE, **files), b""))
    poll_for(lambda: disco.jobinfo(name)["active"] == "dead", 60)
    events = " ".join(str(e) for _o, e in disco.events(name))
    assert "probe uid=" in events, events
    return name, events.split("probe ", 1)[1]


def test_worker_cannot_read_the_secret_or_another_jobs_files(root_cluster, worker_user):
    secret = os.path.join(root_cluster.root, "secret")
    with open(secret, "w") as f:
        f.write("s3cret")
    os.chmod(secret, 0o600)
    disco = Disco(root_cluster.master_url)
    first, report = run_probe(disco, "First", {"SECRET_FILE": secret, "OTHER_FILE": "/nonexistent",
                                                "OWN_FILE": "private.txt"},
                              **{"private.txt": "first job's data"})
    assert "secret=denied" in report and "own=read" in report, report
    first_uid = int(report.split("uid=")[1].split()[0])
    assert first_uid in range(231000, 231100)
    assert f"groups={worker_user.pw_gid} " in report  # no supplementary groups (no root group)
    private = os.path.join(job_home_path(root_cluster.settings.get_path("DISCO_DATA"), HOST,
                                         first), "private.txt")
    assert os.stat(private).st_uid == first_uid
    _second, report = run_probe(disco, "Second", {"SECRET_FILE": secret, "OTHER_FILE": private})
    second_uid = int(report.split("uid=")[1].split()[0])
    assert second_uid != first_uid and second_uid in range(231000, 231100)
    assert "secret=denied" in report and "other=denied" in report, report
