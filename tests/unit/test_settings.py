"""DiscoSettings: resolution order, typed accessors, ast-parsed settings file, pickling."""
from __future__ import annotations

import json
import os
import pickle

import pytest

from disco.error import ConfigError
from disco.settings import DiscoSettings


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith(("DISCO_", "DDFS_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DISCO_SETTINGS_FILE", str(tmp_path / "none"))
    return monkeypatch


def test_defaults_and_derived(clean_env):
    s = DiscoSettings(DISCO_HOME="/h")
    assert s["DISCO_PORT"] == 8989 and s["DISCO_MASTER_HOST"] == "localhost"
    assert s["DISCO_MASTER"] == "http://localhost:8989"
    assert s["DISCO_DATA"] == "/h/root/data"
    assert s["DISCO_MASTER_ROOT"] == "/h/root/data/_disco_8989"
    assert s["DDFS_DATA"] == "/h/root/ddfs"
    assert s["DISCO_WORKER_MAX_MEM"] == "80%"
    assert s["DISCO_WORKER_START_TIMEOUT"] == 30 and s["DISCO_JOBPACK_MAX"] == 1 << 30
    assert s["DDFS_READ_TOKEN"] is None


def test_env_overrides_file_and_defaults_and_is_a_string(clean_env, tmp_path):
    path = tmp_path / "settings.py"
    path.write_text("import os\nDISCO_PORT = 9000\nDISCO_ROOT = '/r'\n"
                    "DISCO_DATA = os.path.join(DISCO_ROOT, 'd')\nDDFS_TAG_REPLICAS = 1 + 2\n"
                    "WEIRD = open('/etc/passwd').read()\n")
    clean_env.setenv("DISCO_SETTINGS_FILE", str(path))
    s = DiscoSettings()
    assert s["DISCO_PORT"] == 9000 and s["DISCO_DATA"] == "/r/d"
    assert s["DDFS_TAG_REPLICAS"] == 3
    assert "WEIRD" not in s.settings_file_defs  # never executed
    clean_env.setenv("DISCO_PORT", "7000")
    assert DiscoSettings()["DISCO_PORT"] == "7000"
    assert DiscoSettings().get_int("DISCO_PORT") == 7000
    assert DiscoSettings(DISCO_PORT=1)["DISCO_PORT"] == 1  # explicit item wins


def test_broken_settings_file_is_a_config_error(clean_env, tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("DISCO_PORT = (\n")
    clean_env.setenv("DISCO_SETTINGS_FILE", str(path))
    with pytest.raises(ConfigError, match="bad.py, line"):
        DiscoSettings()


def test_typed_accessors(clean_env):
    s = DiscoSettings(A="3", B="2.5", T="yes", F="off", E="", P="~/x")
    s.defaults = {**DiscoSettings.defaults, "A": 0, "B": 0, "T": 0, "F": 0, "E": 0, "P": ""}
    assert s.get_int("A") == 3 and s.get_float("B") == 2.5
    assert s.get_bool("T") and not s.get_bool("F") and not s.get_bool("E")
    assert s.get_path("P") == os.path.join(os.environ["HOME"], "x")
    assert s.get_str("DDFS_READ_TOKEN") == ""
    with pytest.raises(ConfigError, match="not an integer"):
        DiscoSettings(DISCO_PORT="eighty").get_int("DISCO_PORT")
    assert s.get("NOT_A_SETTING", 5) == 5


def test_pickle_snapshots_every_setting(clean_env):
    s = DiscoSettings(DISCO_HOME="/h")
    clone = pickle.loads(pickle.dumps(s))
    clean_env.setenv("DISCO_PORT", "1234")
    assert clone["DISCO_PORT"] == 8989 and clone["DISCO_DATA"] == "/h/root/data"


def test_env_strings_omit_none(clean_env):
    env = DiscoSettings(DISCO_HOME="/h").env()
    assert env["DISCO_PORT"] == "8989" and env["DISCO_ROTATE_LOG"] == "False"
    assert "DDFS_READ_TOKEN" not in env
    assert all(isinstance(v, str) for v in env.values())


def test_ensuredirs(clean_env, tmp_path):
    s = DiscoSettings(DISCO_HOME=str(tmp_path / "home"))
    s.ensuredirs()
    for key in s.must_exist:
        assert os.path.isdir(s[key])
    with open(s["DISCO_MASTER_CONFIG"]) as f:
        config = json.load(f)
    assert config[0][0] == "localhost" and int(config[0][1]) >= 1
