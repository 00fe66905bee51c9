"""One typed Config per process: code below the composition roots reads attributes of it, never
a setting by name, and every attribute it reads is a setting of the table (a typo such as
``config.disco_prot`` fails here, not in a daemon at run time). See docs/architecture.md
"Settings"."""
from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from disco import settings_table
from disco.ddfs_server.config import DdfsConfig
from disco.error import ConfigError
from disco.settings import DiscoSettings

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "disco"

#: the server side: every module here takes the typed Config (or values of it)
SERVER_CODE = ("disco/master", "disco/node", "disco/ddfs_server", "disco/serverlimits.py")
#: modules that may read DiscoSettings by name, and why
ROOTS = {
    # the ssh remote end: a short-lived process of its own (pid and log paths of its machine)
    "disco/node/remote.py",
}
ACCESSORS = {"get_int", "get_float", "get_bool", "get_str", "get_path", "get_list"}
#: receivers whose string keys are environment variables handed on, not settings
ENVIRONMENTS = {"environ", "env", "environment", "base_env"}
#: an attribute named like a setting (``config.disco_port``)
SETTING_ATTRIBUTE = re.compile(r"(disco|ddfs|data)_[a-z0-9_]+")


def server_modules() -> list[Path]:
    paths: list[Path] = []
    for entry in SERVER_CODE:
        path = ROOT / entry
        paths += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [p for p in paths if str(p.relative_to(ROOT)) not in ROOTS]


def _receiver(node: ast.expr) -> str:
    """The last name of ``a.b.c`` (``c``), '' for anything else."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _setting_name(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and node.value in settings_table.BY_NAME:
        return node.value
    return None


def lookups_by_name(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string lookup of a setting in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else _receiver(func)
            if name in ACCESSORS or name == "value_of":
                found.append((node.lineno, ast.unparse(node)))
            elif (name == "get" and isinstance(func, ast.Attribute) and node.args
                  and _setting_name(node.args[0])
                  and _receiver(func.value) not in ENVIRONMENTS):
                found.append((node.lineno, ast.unparse(node)))
        elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
              and _setting_name(node.slice) and _receiver(node.value) not in ENVIRONMENTS):
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_no_setting_is_looked_up_by_name_below_the_composition_roots():
    found = [f"{path.relative_to(ROOT)}:{line}: {text}" for path in server_modules()
             for line, text in lookups_by_name(path.read_text())]
    assert not found, ("read the typed Config (config.disco_port) instead of looking a setting "
                       "up by name:\n" + "\n".join(found))


def test_the_lookup_scan_finds_each_kind_of_lookup():
    source = ('settings.get_int("DISCO_PORT")\nvalue_of(s, "DISCO_PORT")\n'
              's["DISCO_TLS_CA"]\ns.get("DISCO_TLS_CA")\nenv["DDFS_DATA"] = x\n'
              'os.environ.get("DISCO_PORT")\n')
    assert [line for line, _text in lookups_by_name(source)] == [1, 2, 3, 4]


def defined_names() -> set[str]:
    """Every attribute, method, field, parameter and module name the package defines."""
    names = {p.stem for p in PACKAGE.rglob("*.py")} | {p.name for p in PACKAGE.rglob("*")
                                                       if p.is_dir()}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names


def unknown_setting_attributes(source: str, defined: set[str]) -> list[tuple[int, str]]:
    """(line, attribute) of reads like ``config.disco_prot``: named like a setting, but neither
    a setting of the table nor anything the package defines."""
    return [(node.lineno, node.attr) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
            and SETTING_ATTRIBUTE.fullmatch(node.attr)
            and node.attr.upper() not in settings_table.BY_NAME and node.attr not in defined]


def test_every_setting_attribute_the_code_reads_is_in_the_table():
    defined = defined_names()
    found = [f"{path.relative_to(ROOT)}:{line}: .{attr}" for path in sorted(PACKAGE.rglob("*.py"))
             for line, attr in unknown_setting_attributes(path.read_text(), defined)]
    assert not found, "attributes read from a Config but not in the settings table:\n" + \
        "\n".join(found)


def test_a_typo_in_a_config_attribute_is_found():
    source = "def f(config):\n    return config.disco_port, config.disco_prot\n"
    assert unknown_setting_attributes(source, defined_names()) == [(2, "disco_prot")]
    with pytest.raises(AttributeError):
        DiscoSettings().typed().disco_prot  # noqa: B018 (and at run time too)


def test_config_is_a_read_only_mapping_by_disco_names_for_the_shared_helpers():
    config = DiscoSettings(DISCO_PORT="9000", DISCO_TLS_CA="~/ca.pem").typed()
    assert config["DISCO_PORT"] == 9000 == config.get("DISCO_PORT")
    assert config.get("DISCO_TLS_CA").endswith("/ca.pem") and config.get("NOT_A_SETTING") is None
    with pytest.raises(KeyError):
        config["NOT_A_SETTING"]  # noqa: B018
    assert settings_table.config_of(config) is config


def test_a_plain_mapping_derives_its_defaults_from_its_own_values():
    config = settings_table.typed({"DISCO_ROOT": "/srv/disco", "DISCO_PORT": "9100"})
    assert config.disco_data == "/srv/disco/data" and config.disco_name == "disco_9100"
    assert config.ddfs_data == "/srv/disco/ddfs"


def test_a_value_of_the_wrong_kind_is_a_config_error_naming_the_setting():
    with pytest.raises(ConfigError, match="DISCO_NODE_TIMEOUT='soon' is not a number"):
        settings_table.typed({"DISCO_NODE_TIMEOUT": "soon"})


def test_ddfs_config_is_taken_from_the_typed_config():
    config = DiscoSettings(DDFS_TAG_REPLICAS="3").typed()
    ddfs = DdfsConfig.from_config(config)
    assert ddfs.ddfs_tag_replicas == 3
    assert all(getattr(ddfs, f.name) == getattr(config, f.name)
               for f in dataclasses.fields(DdfsConfig))
