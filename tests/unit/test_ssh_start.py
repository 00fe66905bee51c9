"""How the master starts and stops a node on another machine (the ssh command line)."""
from __future__ import annotations

import shlex
import sys

import pytest

from disco.master.nodes import Cluster, NodeProcesses, remote_settings
from disco.node import remote
from disco.settings import DiscoSettings

pytestmark = pytest.mark.timeout(10)


def processes(**settings) -> NodeProcesses:
    values = DiscoSettings(DISCO_PORT=9100, DDFS_PUT_PORT=9101, **settings)
    config = values.typed()
    return NodeProcesses(config, Cluster(config), "http://master:9100", values)


def test_a_remote_host_is_started_over_ssh_with_the_cluster_settings():
    argv = processes(DISCO_SSH_OPTIONS="-i /keys/id -p 2222").command("node01.example")
    assert argv[:6] == ["ssh", "-o", "BatchMode=yes", "-i", "/keys/id", "-p"]
    assert argv[7] == "node01.example"
    remote_argv = shlex.split(argv[8])
    assert remote_argv[0] == "env"
    assert "DISCO_PORT=9100" in remote_argv and "DDFS_PUT_PORT=9101" in remote_argv
    tail = remote_argv[remote_argv.index("-m") - 1:]
    assert tail == [sys.executable, "-m", "disco.node.remote", "start", "--host",
                    "node01.example", "--master", "http://master:9100"]


def test_paths_and_secrets_stay_off_the_command_line():
    pairs = remote_settings(DiscoSettings(DISCO_ROOT="/srv/disco", DDFS_WRITE_TOKEN="s3cret"))
    names = {pair.split("=", 1)[0] for pair in pairs}
    assert not names & {"DISCO_ROOT", "DISCO_DATA", "DDFS_DATA", "DISCO_LOG_DIR",
                        "DISCO_PID_DIR", "DISCO_SETTINGS_FILE", "DDFS_WRITE_TOKEN"}
    assert not [p for p in pairs if "s3cret" in p]
    assert {"DISCO_NODE_HEARTBEAT", "DISCO_NODE_TIMEOUT", "DDFS_BLOB_REPLICAS"} <= names


def test_the_nodes_python_and_the_stop_command():
    argv = processes(DISCO_NODE_PYTHON="/opt/disco/bin/python").ssh_command("n2", "stop")
    remote_argv = shlex.split(argv[-1])
    assert remote_argv[remote_argv.index("-m") - 1:] == [
        "/opt/disco/bin/python", "-m", "disco.node.remote", "stop", "--host", "n2"]


def test_the_remote_end_adopts_only_a_live_node_of_its_host(tmp_path):
    settings = DiscoSettings(DISCO_PID_DIR=str(tmp_path))
    assert remote.running_node(settings, "n1") is None
    (tmp_path / "node-n1.pid").write_text("1\n")      # pid 1 is not a disco node
    assert remote.running_node(settings, "n1") is None
    assert remote.stop(settings, "n1") == 0
    owner = remote.take_ownership(settings, "n1")
    assert remote.still_owner(owner)
    (tmp_path / "remote-n1.pid").write_text("1\n")    # a newer session took over
    assert not remote.still_owner(owner)
