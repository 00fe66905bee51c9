"""Disco 0.5.4's own client library against a cluster with a secret: the token goes in
its master URL, ``DISCO_MASTER=http://host:port/_secret/<token>`` (docs/security.md).

It submits a job (Disco's `Job`, Disco's classic worker on our nodes), waits for it, and
uses DDFS (push through the upload URLs the master hands out with the token, tag, attrs,
delete). Disco's worker reads other nodes' task outputs and Disco's `result_iterator` reads
results from the nodes' data servers without a token (it builds their URLs from `disco://`
itself): that needs ``DISCO_PUBLIC_READS=1`` (GET/HEAD of task data and blobs left open;
everything else still refused, which the test checks too).
The same client without the token is refused with the message naming DISCO_SECRET.
"""
from __future__ import annotations

import subprocess
import textwrap
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from disco import auth
from disco.core import result_iterator
from tests.compat.disco054 import run_with_disco_lib

pytestmark = [pytest.mark.timeout(240)]

SECRET = "054-secret-" + uuid.uuid4().hex
SCRIPT = '''
import sys
from io import BytesIO
import disco
from disco.core import Job
from disco.ddfs import DDFS
assert disco.__file__.startswith(sys.argv[1]), disco.__file__

def fun_map(line, params):
    for word in line.split():
        yield word, 1

if __name__ == "__main__":
    import script
    job = Job().run(input=["raw://the cat", "raw://the dog"], map=script.fun_map)
    from disco.core import result_iterator
    print("results", sorted(result_iterator(job.wait(timeout=120))))
    print("job", job.name)
    ddfs = DDFS()
    ddfs.push("disco:secure:client", [(BytesIO(b"first blob"), "one")])
    ddfs.setattr("disco:secure:client", "origin", "disco-0.5.4")
    print("attr", ddfs.getattr("disco:secure:client", "origin"))
    print("blobs", len(list(ddfs.blobs("disco:secure:client"))))
    ddfs.delete("disco:secure:client")
    print("gone", ddfs.exists("disco:secure:client"))
'''


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def run_054(cluster, lib: Path, script_dir: Path, master: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in cluster.client_env().items() if k != "DISCO_SECRET"}
    return run_with_disco_lib({**env, "DISCO_MASTER": master}, lib, script_dir, "script.py",
                              str(lib))


def test_disco_054_client_with_the_token_in_its_master_url(cluster, disco_lib, tmp_path):
    # Disco's worker and client cannot send the token to the nodes' data servers
    local = cluster(hosts=("127.0.0.2", "127.0.0.3"),
                    settings={"DISCO_SECRET": SECRET, "DISCO_PUBLIC_READS": 1})
    (tmp_path / "script.py").write_text(textwrap.dedent(SCRIPT))
    token = auth.client_token(SECRET)
    done = run_054(local, disco_lib, tmp_path, f"{local.master_url}/_secret/{token}")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "results [('cat', 1), ('dog', 1), ('the', 1), ('the', 1)]", lines
    assert lines[2:] == ["attr disco-0.5.4", "blobs 1", "gone False"], lines
    job = lines[1].split()[1]
    # our client (which sends the token) reads what Disco's worker wrote
    pairs = sorted(result_iterator(local.disco.wait(job, timeout=10)))
    assert pairs == [("cat", 1), ("dog", 1), ("the", 1), ("the", 1)], pairs

    status, body = fetch(f"{local.master_url}/disco/ctrl/joblist")
    assert status == 401 and b"DISCO_SECRET" in body
    status, body = fetch(f"http://127.0.0.2:{local.put_port}/ddfs/internal/tags")
    assert status == 401
    refused = run_054(local, disco_lib, tmp_path, local.master_url)
    assert refused.returncode != 0
    assert "DISCO_SECRET" in refused.stdout + refused.stderr
