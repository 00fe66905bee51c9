"""`disco start | status | stop | restart` and `disco demo` in a private root (real daemons)."""
from __future__ import annotations

import os

import pytest

from disco.cli.daemon import read_pid
from disco.sysutil import pid_alive
from disco.testing import free_port, poll_for, run_cli

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def env(tmp_path):
    """Embedded defaults (master + co-located node on localhost) in tmp_path, free ports."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCO_", "DDFS_"))}
    settings_file = tmp_path / "settings.py"
    settings_file.write_text("")
    port = free_port(["127.0.0.1"])
    clean.update(DISCO_ROOT=str(tmp_path / "root"), DISCO_HOME=str(tmp_path),
                 DISCO_SETTINGS_FILE=str(settings_file), DISCO_MASTER_HOST="localhost",
                 DISCO_PORT=str(port), DDFS_PUT_PORT=str(free_port(["127.0.0.1"], {port})),
                 DISCO_NODE_HEARTBEAT="0.5", DISCO_EVENTS_FLUSH_INTERVAL="0.2",
                 DISCO_RETRY_SLEEP_RANDOM="0")
    yield clean
    run_cli("stop", env=clean, timeout=60)  # never leave a daemon behind


def node_pids(root) -> list[int]:
    run_dir = root / "run"
    return [read_pid(str(run_dir / name)) for name in os.listdir(run_dir)
            if name.startswith("node-")]


def test_start_status_stop(env, tmp_path):
    root = tmp_path / "root"
    port = env["DISCO_PORT"]
    started = run_cli("start", env=env, timeout=90)
    assert started.returncode == 0, started.stderr
    assert started.stdout.splitlines()[0] == f"Master localhost:{port} started"
    assert f"http://localhost:{port}" in started.stdout
    master_pid = read_pid(str(root / "run" / "master.pid"))
    assert master_pid and pid_alive(master_pid)
    assert (root / "log" / "master.log").exists()

    status = run_cli("status", env=env)
    assert status.stdout.startswith(f"Master localhost:{port} running")

    again = run_cli("start", env=env)
    assert again.returncode == 1 and "already started" in again.stderr

    # the master starts the co-located node from the default config table
    poll_for(lambda: node_pids(root), 30)
    nodes = node_pids(root)

    stopped = run_cli("stop", env=env, timeout=60)
    assert stopped.returncode == 0
    assert stopped.stdout.strip() == f"Master localhost:{port} stopped"
    assert not pid_alive(master_pid)
    assert not any(pid and pid_alive(pid) for pid in nodes)
    assert run_cli("status", env=env).stdout.strip() == f"Master localhost:{port} stopped"


def test_restart(env, tmp_path):
    assert run_cli("start", env=env, timeout=90).returncode == 0
    first = read_pid(str(tmp_path / "root" / "run" / "master.pid"))
    restarted = run_cli("restart", env=env, timeout=90)
    assert restarted.returncode == 0, restarted.stderr
    assert "stopped" in restarted.stdout and "started" in restarted.stdout
    second = read_pid(str(tmp_path / "root" / "run" / "master.pid"))
    assert second != first and pid_alive(second) and not pid_alive(first)


def test_start_failure_is_explained(env, tmp_path):
    """A master that cannot bind its port: one error line plus the log tail, exit 1."""
    import socket
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(env["DISCO_PORT"])))
        blocker.listen()
        env = dict(env, DISCO_MASTER_HOST="127.0.0.1")
        result = run_cli("start", "--timeout", "20", env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert not os.path.exists(tmp_path / "root" / "run" / "master.pid")


@pytest.mark.timeout(180)
def test_demo_starts_counts_and_stops(env, tmp_path):
    from disco.cli.corpus import expected_counts
    result = run_cli("demo", "--size", "60000", "--top", "3", env=env, timeout=170)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "starting a local cluster" in out
    top = [line.split() for line in out.splitlines() if line.startswith(" ")][-3:]
    expected = expected_counts(60000).most_common(3)
    assert [(word, int(count)) for count, word in top] == expected
    assert out.rstrip().endswith("stopped")
    assert run_cli("status", env=env).stdout.strip().endswith("stopped")
