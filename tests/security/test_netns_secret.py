"""A cluster of real hosts (network namespaces, non-loopback addresses, nodes started over
ssh) with a secret: each machine reads its own DISCO_SECRET_FILE (the secret never goes on
the ssh command line), the nodes pass the link's challenge, a job runs across hosts, and a
stranger on the network is refused by the master and by every node's ports.
Run with `flock /tmp/hosts.lock python -m pytest tests/security/test_netns_secret.py`.
"""
from __future__ import annotations

import json
import os
import sys
import uuid

import pytest

from disco.testing.netns import NetnsCluster, unavailable

pytestmark = [pytest.mark.timeout(300), pytest.mark.hosts]

JOBS = os.path.join(os.path.dirname(__file__), "..", "hosts", "netns_jobs.py")
SECRET = "netns-secret-" + uuid.uuid4().hex

PROBE = """
import json, sys, urllib.error, urllib.request
found = {}
for url in sys.argv[1:]:
    method = "POST" if "internal" in url else "GET"
    request = urllib.request.Request(url, data=b"{}" if method == "POST" else None,
                                     method=method)
    try:
        urllib.request.urlopen(request, timeout=5)
        found[url] = 200
    except urllib.error.HTTPError as exc:
        found[url] = [exc.code, exc.read().decode()]
print(json.dumps(found))
"""


@pytest.fixture
def secure_hosts(tmp_path):
    reason = unavailable()
    if reason:
        pytest.skip(f"namespace hosts cannot be made here: {reason}")
    cluster = NetnsCluster(tmp_path / "hosts", nodes=2, secret=SECRET).start()
    yield cluster
    cluster.stop()


def test_a_secret_cluster_of_real_hosts(secure_hosts):
    cluster = secure_hosts
    out = cluster.run(sys.executable, JOBS, "wordcount", "8", "--seed", "5", timeout=180)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["counts"] == result["expected"]
    port, put = cluster.settings["DISCO_PORT"], cluster.settings["DDFS_PUT_PORT"]
    urls = [f"{cluster.master_url}/disco/ctrl/joblist", f"{cluster.master_url}/ddfs/tags"]
    for name in cluster.node_names:
        urls += [f"http://{name}:{port}/disco/{name}/x", f"http://{name}:{put}/ddfs/internal/delete"]
    stranger = {k: v for k, v in cluster.client_env().items() if k != "DISCO_ROOT"}
    stranger["DISCO_ROOT"] = stranger["DISCO_HOME"] = cluster.root  # no secret file there
    done = cluster.in_netns("master", [sys.executable, "-c", PROBE, *urls], env=stranger)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for url in urls:
        assert found[url][0] == 401 and "DISCO_SECRET" in found[url][1], (url, found[url])
    for name in ("master", *cluster.node_names):
        for log in os.listdir(cluster.hosts[name].log_dir):
            with open(os.path.join(cluster.hosts[name].log_dir, log), errors="replace") as f:
                assert SECRET not in f.read(), (name, log)
