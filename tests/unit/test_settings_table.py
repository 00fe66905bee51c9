"""The settings table is the only source of defaults, and what docs, CLI and UI show."""
from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from disco import settings_table
from disco.ddfs_server.config import DdfsConfig, config_from_mapping
from disco.settings import DiscoSettings
from click.testing import CliRunner

from disco.cli.disco import cli

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def test_docs_settings_md_is_generated_from_the_table():
    text = (ROOT / "docs" / "settings.md").read_text()
    assert text == settings_table.markdown(), \
        "docs/settings.md is stale: python -m disco.settings_table > docs/settings.md"


def test_every_setting_has_a_kind_help_and_a_default_of_its_kind():
    names = [s.name for s in settings_table.SETTINGS]
    assert len(names) == len(set(names)), "a setting is listed twice"
    for s in settings_table.SETTINGS:
        assert s.kind in ("str", "int", "float", "bool", "path") and s.help, s.name
        if not isinstance(s.default, settings_table.Derived) and s.default not in (None, ""):
            settings_table.convert(s.kind, s.default)  # raises if the default is not its kind


def test_disco_settings_reads_its_defaults_from_the_table():
    assert DiscoSettings.defaults == settings_table.defaults()
    settings = DiscoSettings(DISCO_HOME="/h")
    assert settings["DISCO_DATA"] == "/h/root/data"  # a derivation, as in Disco
    assert settings["DISCO_MASTER"] == "http://localhost:8989"


def test_typed_config_is_frozen_and_typed():
    config = DiscoSettings(DISCO_PORT="9000", DISCO_SPECULATIVE="0").typed()
    assert config.disco_port == 9000 and config.disco_speculative is False
    assert config.disco_master == "http://localhost:9000"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.disco_port = 1


def test_ddfs_config_has_no_defaults_of_its_own():
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(DdfsConfig))
    assert all(f.name.upper() in settings_table.BY_NAME for f in dataclasses.fields(DdfsConfig))
    config = config_from_mapping({"DDFS_GC_INITIAL_WAIT": "", "DDFS_TAG_REPLICAS": "3"})
    assert config.ddfs_gc_initial_wait == 5.0 and config.ddfs_tag_replicas == 3
    assert config.ddfs_gc_interval == settings_table.BY_NAME["DDFS_GC_INTERVAL"].default


#: `settings.get("DISCO_X", 30)`: a default outside the table (`os.environ.get` reads the
#: environment only, as a worker's cheap path does)
_INLINE_DEFAULT = re.compile(r"""(?<!environ)\.get\(\s*["'](DISCO|DDFS)_\w+["']\s*,""")


def test_no_inline_setting_defaults_in_the_code():
    found = []
    for path in sorted((ROOT / "disco").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _INLINE_DEFAULT.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "defaults outside disco/settings_table.py:\n" + "\n".join(found)


def test_every_setting_name_the_code_reads_is_in_the_table():
    pattern = re.compile(r"""["']((?:DISCO|DDFS)_[A-Z0-9_]+)["']""")
    unknown = set()
    for path in sorted((ROOT / "disco").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
                    "get_int", "get_float", "get_bool", "get_str", "get_path"):
                for arg in node.args[:1]:
                    if isinstance(arg, ast.Constant) and pattern.fullmatch(repr(arg.value)):
                        if arg.value not in settings_table.BY_NAME:
                            unknown.add(f"{path.relative_to(ROOT)}: {arg.value}")
    assert not unknown, f"settings read but not in the table: {sorted(unknown)}"


def test_rows_mask_secrets_but_not_the_files_naming_them():
    rows = {row["name"]: row for row in settings_table.rows(
        DiscoSettings(DISCO_SECRET="s3cret", DDFS_WRITE_TOKEN="tok"))}
    assert rows["DISCO_SECRET"]["value"] == "***" and rows["DDFS_WRITE_TOKEN"]["value"] == "***"
    assert rows["DISCO_SECRET_FILE"]["value"].endswith("/secret")


def test_disco_settings_command_prints_values_and_help(monkeypatch):
    monkeypatch.setenv("DISCO_PORT", "9123")
    result = CliRunner().invoke(cli, ["settings"])
    assert result.exit_code == 0, result.output
    assert "DISCO_PORT = '9123'  # int: HTTP port of the master" in result.output
    markdown = CliRunner().invoke(cli, ["settings", "--markdown"])
    assert markdown.output == settings_table.markdown()

