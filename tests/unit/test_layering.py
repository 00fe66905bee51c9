"""The import graph keeps the architecture's layers: see docs/architecture.md.

Every module of the package belongs to one layer (LAYERS, longest prefix wins) and may import
only the layers ALLOWED lists for its own; a new module or a new edge between layers fails here
until it is placed on purpose. The graph also has no cycles (a hidden cycle, broken by an import
inside a function or a module ``__getattr__``, is still a cycle)."""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "disco"

#: layer -> module prefixes (``disco`` alone is the package's ``__init__``)
LAYERS = {
    "base": ("disco", "disco.error", "disco.settings", "disco.settings_table", "disco.compat",
             "disco.sysutil", "disco.addresses", "disco.dPickle", "disco.protocol", "disco.urls",
             "disco.auth", "disco.tls"),
    "io": ("disco.comm", "disco.fileutils", "disco.util", "disco.schemes", "disco.ddfs"),
    "worker": ("disco.worker", "disco.task", "disco.func"),
    "client": ("disco.client", "disco.core", "disco.job", "disco.jobpack", "disco.results",
               "disco.eventmonitor", "disco.test"),
    "serving": ("disco.serving", "disco.httperrors", "disco.httpauth", "disco.serverlimits"),
    "ddfs_server": ("disco.ddfs_server",),
    "web": ("disco.web",),
    "master": ("disco.master",),
    "node": ("disco.node",),
    "cli": ("disco.cli", "disco.__main__"),
    "testing": ("disco.testing",),
}

#: layer -> the other layers it may import. `master` and `node` never import each other (their
#: contract is disco.protocol); nothing on the client or worker side imports a server.
ALLOWED = {
    "base": set(),
    "io": {"base"},
    "worker": {"base", "io"},
    "client": {"base", "io", "worker"},
    "serving": {"base"},
    "ddfs_server": {"base", "serving"},
    "web": {"base", "serving"},
    "master": {"base", "serving", "ddfs_server", "web"},
    "node": {"base", "io", "worker", "serving", "ddfs_server"},
    "cli": {"base", "io", "worker", "client", "serving", "ddfs_server", "web", "master", "node"},
    "testing": set(LAYERS),
}

#: module-level exceptions inside a layer: importer -> prefixes it must not import
FORBIDDEN_WITHIN = {
    "disco.ddfs": ("disco.util",),  # disco.util imports disco.ddfs for tag:// expansion
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """Every name an import statement in ``path`` (at any depth) may refer to."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_of(module: str) -> str | None:
    # "disco" names the package's __init__ only, not everything below it
    matches = [(len(prefix), layer) for layer, prefixes in LAYERS.items()
               for prefix in prefixes
               if (module == prefix if prefix == "disco" else is_under(module, prefix))]
    return max(matches)[1] if matches else None


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports."""
    modules = package_modules()
    return {module: {name for name in imported_modules(path) if name in modules and name != module}
            for module, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for name in sorted(graph[module]):
            if state.get(name) == "open":
                return stack[stack.index(name):] + [name]
            if name not in state and (cycle := visit(name)):
                return cycle
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


@pytest.mark.timeout(60)
def test_every_module_has_a_layer():
    unplaced = [module for module in package_modules() if layer_of(module) is None]
    assert not unplaced, f"modules outside every layer (add them to LAYERS): {unplaced}"


@pytest.mark.timeout(60)
def test_layers_import_only_what_they_are_allowed():
    violations = []
    for module, names in import_graph().items():
        layer = layer_of(module)
        for name in sorted(names):
            other = layer_of(name)
            if other != layer and other not in ALLOWED[layer]:
                violations.append(f"{module} ({layer}) imports {name} ({other})")
    assert not violations, "layering violations:\n" + "\n".join(violations)


@pytest.mark.timeout(60)
def test_forbidden_imports_within_a_layer():
    violations = [f"{module} imports {name}"
                  for module, names in import_graph().items()
                  for importer, prefixes in FORBIDDEN_WITHIN.items() if is_under(module, importer)
                  for name in names for prefix in prefixes if is_under(name, prefix)]
    assert not violations, "\n".join(violations)


@pytest.mark.timeout(60)
def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.timeout(60)
def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.timeout(60)
def test_master_and_node_never_import_each_other():
    assert "node" not in ALLOWED["master"] and "master" not in ALLOWED["node"]
