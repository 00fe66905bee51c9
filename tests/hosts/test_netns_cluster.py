"""A cluster of real hosts: the master and each node in its own network namespace.

Nodes are started by the master over ssh (an sshd in each node's namespace), each host has
its own address, /etc/hosts and directories, so every byte between hosts goes over HTTP:
`NetnsCluster` (disco/testing/netns.py). Skipped where namespaces cannot be made.
"""
from __future__ import annotations

import json
import os
import signal
import sys

import pytest

from disco.sysutil import pid_alive
from disco.testing import poll_for

pytestmark = [pytest.mark.timeout(240), pytest.mark.hosts]

JOBS = os.path.join(os.path.dirname(__file__), "netns_jobs.py")


def wordcount(cluster, count: int, seed: int = 0, **params) -> dict:
    out = cluster.run(sys.executable, JOBS, "wordcount", str(count), "--seed", str(seed),
                      "--params", json.dumps(params), timeout=180)
    return json.loads(out.strip().splitlines()[-1])


def files_under(path: str) -> list[str]:
    found = []
    for base, _dirs, names in os.walk(path):
        found += [os.path.join(base, n) for n in names]
    return found


def test_a_job_runs_across_hosts_that_share_nothing(netns_cluster):
    cluster = netns_cluster(nodes=3)
    result = wordcount(cluster, 12, seed=3)
    assert result["counts"] == result["expected"]
    assert result["pairs"] == result["distinct"]
    job = result["job"]
    # each node wrote its task outputs under its own DISCO_DATA/<its host name>/, nowhere else
    for name in cluster.node_names:
        data = cluster.hosts[name].disco_data
        hosts_seen = (
            {p.split(os.sep)[0] for p in os.listdir(data)} if os.path.isdir(data) else set()
        )
        assert hosts_seen <= {name}, (name, hosts_seen)
    master_data = cluster.hosts["master"].disco_data
    assert not [p for p in os.listdir(master_data) if p.startswith("node")], os.listdir(master_data)
    ran = [name for name in cluster.node_names
           if any(job in p for p in files_under(cluster.hosts[name].disco_data))]
    assert len(ran) >= 2, ran   # the work was spread over hosts, results read back over HTTP


def test_ddfs_blobs_are_replicated_between_hosts(netns_cluster):
    cluster = netns_cluster(nodes=3, settings={"DDFS_BLOB_REPLICAS": 2, "DDFS_TAG_REPLICAS": 2})
    blob = os.path.join(cluster.root, "blob.txt")
    with open(blob, "w", encoding="ascii") as f:
        f.write("one line\nanother line\n")
    cluster.run("ddfs", "push", "data:hosts", blob)
    assert cluster.run("ddfs", "cat", "data:hosts") == "one line\nanother line\n"
    (replicas,) = [line.split() for line in cluster.run("ddfs", "blobs", "data:hosts").splitlines()
                   if line.strip()]
    hosts = sorted(url.split("/")[2] for url in replicas)
    assert len(set(hosts)) == 2, replicas
    # each replica is a file on its own host's disk, and on no other host's
    holders = sorted(name for name in cluster.node_names
                     if any("blob_txt" in p for p in files_under(cluster.hosts[name].ddfs_data)))
    assert holders == hosts


def test_the_master_restarts_a_killed_node_over_ssh(netns_cluster):
    cluster = netns_cluster(nodes=2)
    before = cluster.node_pid("node1")
    assert before is not None
    os.kill(before, signal.SIGKILL)
    poll_for(lambda: cluster.node_pid("node1") not in (None, before), 60, period=0.3,
             message="node1 was not restarted over ssh")
    cluster.wait_for_nodes(["node1"], timeout=60)
    result = wordcount(cluster, 6, seed=1)
    assert result["counts"] == result["expected"]


def test_a_restarted_master_adopts_the_running_ssh_nodes(netns_cluster):
    cluster = netns_cluster(nodes=2)
    pids = {name: cluster.node_pid(name) for name in cluster.node_names}
    cluster.master.send_signal(signal.SIGKILL)
    cluster.master.wait(10)
    cluster._start_master()
    cluster.wait_for_nodes(timeout=60)
    assert {name: cluster.node_pid(name) for name in cluster.node_names} == pids
    result = wordcount(cluster, 6, seed=2)
    assert result["counts"] == result["expected"]
    # the old master's ssh sessions were adopted, not doubled: one per host
    sessions = [p for p in cluster.netns_pids("master") if _is_ssh(p)]
    assert len(sessions) == len(cluster.node_names), sessions


def test_a_host_removed_from_the_table_is_stopped_over_ssh(netns_cluster):
    cluster = netns_cluster(nodes=2)
    pid = cluster.node_pid("node2")
    cluster.run("disco", "config", "node1", "2")
    poll_for(lambda: not pid_alive(pid), 60, period=0.3,
             message="node2 still runs after its removal from the config table")
    assert cluster.node_pid("node2") is None


def _is_ssh(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.path.basename(f.read().split(b"\0")[0].decode()) == "ssh"
    except OSError:
        return False


def test_a_host_ssh_cannot_reach_is_reported_and_started_once_it_can(netns_cluster):
    cluster = netns_cluster(nodes=2)
    pid = cluster.node_pid("node2")
    cluster.link_down("node2")
    try:
        os.kill(pid, signal.SIGKILL)
        master_log = os.path.join(cluster.hosts["master"].log_dir, "master.log")
        poll_for(lambda: "ssh to node2 failed" in open(master_log, encoding="utf-8").read(),
                 90, period=0.5, message="no ssh failure in the master's log")
    finally:
        cluster.link_up("node2")
    cluster.wait_for_nodes(["node2"], timeout=90)
    assert cluster.node_pid("node2") not in (None, pid)
