"""The import graph keeps the architecture's layers: see docs/architecture.md."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "disco"

#: module prefix -> prefixes it must never import
FORBIDDEN = {
    "disco.master": ("disco.node", "disco.cli", "disco.testing"),
    "disco.node": ("disco.master", "disco.web", "disco.cli", "disco.testing"),
    "disco.worker": ("disco.master", "disco.node", "disco.ddfs_server", "disco.web", "disco.cli"),
    "disco.protocol": ("disco.master", "disco.node", "disco.worker", "disco.ddfs_server", "disco.web"),
    "disco.ddfs_server": ("disco.master", "disco.node", "disco.web", "disco.cli", "disco.testing"),
    "disco.web": ("disco.node", "disco.cli", "disco.testing"),
    "disco.core": ("disco.master", "disco.node", "disco.ddfs_server", "disco.web"),
    "disco.job": ("disco.master", "disco.node", "disco.ddfs_server", "disco.web"),
    "disco.ddfs": ("disco.util", "disco.master", "disco.node", "disco.web"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def rule_for(module: str) -> tuple[str, ...]:
    for prefix, forbidden in FORBIDDEN.items():
        if module == prefix or module.startswith(prefix + "."):
            return forbidden
    return ()


def is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.timeout(60)
def test_layers_import_only_downwards():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        for name in imported_modules(path):
            for prefix in rule_for(module):
                # `disco.ddfs` must not import `disco.util`, but `disco.ddfs_server` is not `disco.ddfs`.
                if is_under(name, prefix) and not is_under(name, module):
                    violations.append(f"{module} imports {name}")
    assert not violations, "layering violations:\n" + "\n".join(violations)
