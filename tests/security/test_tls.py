"""Optional TLS: a cluster with DISCO_TLS_CERT/KEY serves HTTPS on the master and on every
node port, nodes link over wss://, and clients verify with DISCO_TLS_CA.

The certificate is made in the test with the openssl command line (a self-signed one whose
names are the test cluster's addresses), so it is also the CA bundle clients trust.
"""
from __future__ import annotations

import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
import uuid
from io import BytesIO

import pytest
from jobs import wordcount

from disco import auth
from disco.core import result_iterator
from disco.ddfs import DDFS
from disco.job import Job

pytestmark = [pytest.mark.timeout(180)]

HOSTS = ("127.0.0.2", "127.0.0.3")
SECRET = "tls-secret-" + uuid.uuid4().hex


def make_certificate(directory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command line to make a test certificate")
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    names = ",".join(["DNS:localhost", "IP:127.0.0.1", *(f"IP:{h}" for h in HOSTS)])
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", key, "-out", cert, "-subj", "/CN=disco-test",
                    "-addext", f"subjectAltName={names}",
                    "-addext", "basicConstraints=critical,CA:TRUE"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.mark.process  # end to end: the node processes' own logs show the wss:// link
def test_tls_cluster_runs_a_job_over_https(cluster, tmp_path):
    cert, key = make_certificate(tmp_path)
    local = cluster(hosts=HOSTS, settings={"DISCO_TLS_CERT": cert, "DISCO_TLS_KEY": key,
                                           "DISCO_TLS_CA": cert, "DISCO_SECRET": SECRET})
    assert local.master_url.startswith("https://")
    headers = {"Authorization": f"Bearer {auth.client_token(SECRET)}"}
    trusted = ssl.create_default_context(cafile=cert)
    for url in (f"{local.master_url}/disco/version",
                f"https://{HOSTS[0]}:{local.port}/disco/{HOSTS[0]}/none",
                f"https://{HOSTS[0]}:{local.put_port}/ddfs/internal/df"):
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10, context=trusted) as reply:
                status = reply.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status in (200, 404), (url, status)
        # a client that does not trust the cluster's certificate is stopped by TLS
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(request, timeout=10, context=ssl.create_default_context())
        # plain HTTP on a TLS port gets no answer
        plain = url.replace("https://", "http://")
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(urllib.request.Request(plain, headers=headers), timeout=10)

    ddfs = DDFS()
    tag = f"test:tls:{uuid.uuid4().hex[:8]}"
    ddfs.push(tag, [(BytesIO(b"a b a\n"), "one"), (BytesIO(b"b c\n"), "two")])
    job = Job().run(input=[f"tag://{tag}"], map=wordcount.fun_map,
                    reduce=wordcount.fun_reduce, partitions=2)
    assert dict(result_iterator(job.wait(timeout=120))) == {b"a": 2, b"b": 2, b"c": 1}
    for host in HOSTS:
        with open(f"{local.log_dir}/node-{host}.log", encoding="utf-8") as f:
            assert "connected to master wss://" in f.read()
