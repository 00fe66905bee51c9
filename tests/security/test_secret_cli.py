"""`disco secret` and the bind-address rule of `disco start` (real command lines)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from disco import auth

pytestmark = [pytest.mark.timeout(120)]


def disco(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "disco", *args], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def env(tmp_path) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCO_", "DDFS_"))}
    settings = tmp_path / "settings.py"
    settings.write_text("# empty\n")
    clean.update(DISCO_HOME=str(tmp_path), DISCO_ROOT=str(tmp_path / "root"),
                 DISCO_SETTINGS_FILE=str(settings))
    return clean


def test_disco_secret_writes_a_private_file_once(env, tmp_path):
    done = disco(env, "secret")
    assert done.returncode == 0, done.stderr
    path = tmp_path / "root" / "secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert len(secret) >= 32 and secret not in done.stdout
    again = disco(env, "secret")
    assert again.returncode == 0 and "kept" in again.stdout
    assert path.read_text().strip() == secret
    token = disco(env, "secret", "--token")
    assert token.stdout.strip() == auth.client_token(secret)


def test_a_readable_secret_file_is_refused(env, tmp_path):
    path = tmp_path / "root" / "secret"
    path.parent.mkdir()
    path.write_text("shared-with-everyone\n")
    path.chmod(0o644)
    done = disco(env, "secret", "--token")
    assert done.returncode != 0 and "chmod 600" in done.stderr


def test_disco_start_refuses_a_network_bind_without_a_secret(env, tmp_path):
    env = dict(env, DISCO_MASTER_HOST="192.0.2.1")
    done = disco(env, "start", "--timeout", "1")
    assert done.returncode != 0
    assert "not a loopback address" in done.stderr and "disco secret" in done.stderr
    # a node of the config table counts too
    config = tmp_path / "disco.config"
    config.write_text('[["192.0.2.7", "1"]]')
    done = disco(dict(env, DISCO_MASTER_HOST="localhost", DISCO_MASTER_CONFIG=str(config)),
                 "nodaemon")
    assert done.returncode != 0 and "192.0.2.7" in done.stderr


def test_loopback_rule():
    assert auth.is_loopback("localhost") and auth.is_loopback("127.0.0.3")
    assert not auth.is_loopback("192.0.2.1")
    assert auth.exposed_hosts(["127.0.0.1", "192.0.2.1"]) == ["192.0.2.1"]
