"""What the cluster secret costs: request latency with and without it, and a job's run time.

``python -m bench.auth_overhead [--requests N]`` starts a 2-node LocalCluster without a secret
and one with ``DISCO_SECRET``, and for each prints the median and p90 latency of N keep-alive
requests to the master (``GET /disco/ctrl/joblist``) and to a node's data server (a 404
``GET /disco/...``, which still passes the check), plus the submit-to-results time of a small
word count (our client, which sends the token; workers use their job token).
"""
from __future__ import annotations

import argparse
import http.client
import statistics
import tempfile
import time
from urllib.parse import urlsplit

from disco import auth
from disco.testing import LocalCluster

HOSTS = ("127.0.0.2", "127.0.0.3")


def latencies(url: str, headers: dict, count: int) -> list[float]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    found = []
    for _ in range(count):
        start = time.perf_counter()
        conn.request("GET", parts.path, headers=headers)
        conn.getresponse().read()
        found.append(time.perf_counter() - start)
    conn.close()
    return found


def job_seconds(local: LocalCluster) -> float:
    import os

    from disco.core import Job, result_iterator
    os.environ.update(local.env)
    from tests.jobs import wordcount  # noqa: E402 (needs the repo root on sys.path)
    start = time.perf_counter()
    job = Job().run(input=[f"raw://w{i} x" for i in range(8)], map=wordcount.fun_map,
                    reduce=wordcount.fun_reduce, partitions=2)
    list(result_iterator(job.wait(timeout=120)))
    return time.perf_counter() - start


def measure(secret: str | None, count: int) -> dict:
    settings = {"DISCO_SECRET": secret} if secret else {}
    with tempfile.TemporaryDirectory() as root, \
            LocalCluster(root, hosts=HOSTS, settings=settings) as local:
        headers = auth.with_token({}, auth.client_token(secret) if secret else None)
        master = latencies(f"{local.master_url}/disco/ctrl/joblist", headers, count)
        node = latencies(f"http://{HOSTS[0]}:{local.port}/disco/{HOSTS[0]}/none", headers, count)
        return {"master": master, "node": node, "job": job_seconds(local)}


def describe(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"median {statistics.median(ordered) * 1e3:.3f} ms, "
            f"p90 {ordered[int(len(ordered) * 0.9)] * 1e3:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    for label, secret in (("no secret", None), ("DISCO_SECRET", "bench-" + auth.new_secret())):
        found = measure(secret, args.requests)
        print(f"{label:13s} master {describe(found['master'])}; node {describe(found['node'])}; "
              f"word count {found['job']:.2f} s")


if __name__ == "__main__":
    main()
