"""A dictionary of settings with defaults, a settings file and environment overrides.

Resolution of ``settings[key]`` (Disco's order):

1. an item stored in the dict itself (explicit, e.g. ``DiscoSettings(DISCO_PORT=1)``),
2. ``os.environ[key]`` (always a string),
3. the settings file named by ``settings_file_var``, **parsed, never executed**: top-level
   ``NAME = expression`` assignments whose expression is a literal, a name assigned earlier
   in the file, ``+``/``%`` of those, or ``os.path.join``/``os.path.expanduser`` of those,
4. ``defaults[key]``: a literal, or a callable taking the settings object (so a default can
   derive from other settings).

The typed accessors (:meth:`Settings.get_int` ...) convert string values from the
environment; Disco-compatible code keeps using ``settings[key]``.
"""
from __future__ import annotations

import ast
import logging
import os
from typing import Any, Callable, ClassVar, Mapping

log = logging.getLogger(__name__)

_FALSE_WORDS = frozenset({"", "0", "false", "no", "off", "none"})


class SettingsFileError(ValueError):
    """The settings file is not valid Python or assigns something we cannot evaluate."""


class Settings(dict):
    """A dict of settings: explicit items > environment > settings file > defaults."""

    #: name -> literal default, or callable(settings) -> default
    defaults: ClassVar[Mapping[str, Any]] = {}
    #: name of the setting holding the settings file path (None: no file)
    settings_file_var: ClassVar[str | None] = None
    #: raised for a value that cannot be converted or a broken settings file
    error_class: ClassVar[type[Exception]] = ValueError

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings_file_defs: dict[str, Any] = {}
        if self.settings_file_var:
            path = self[self.settings_file_var]
            if path and os.path.isfile(path):
                try:
                    self.settings_file_defs = read_settings_file(path)
                except SettingsFileError as e:
                    raise self.error_class(str(e)) from None

    def __getitem__(self, key: str) -> Any:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        if key in os.environ:
            return os.environ[key]
        if key in self.settings_file_defs:
            return self.settings_file_defs[key]
        default = self.defaults[key]
        return default(self) if callable(default) else default

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        """``self[key]`` if the setting is known anywhere, else ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def __reduce__(self) -> tuple[Any, ...]:
        # A snapshot of every setting travels with a pickled job (as in Disco).
        snapshot = {k: self[k] for k in self.defaults}
        snapshot.update(dict(self.items()))
        return type(self), (snapshot,)

    # typed accessors ------------------------------------------------------------
    def get_str(self, key: str) -> str:
        """The setting as a string; None becomes ''."""
        value = self[key]
        return "" if value is None else str(value)

    def get_int(self, key: str) -> int:
        """The setting as an int (env strings like ``'8989'`` or ``'1e3'`` accepted)."""
        value = self[key]
        if isinstance(value, bool):
            return int(value)
        try:
            return int(value)
        except (TypeError, ValueError):
            try:
                return int(float(value))
            except (TypeError, ValueError):
                raise self.error_class(_bad_value(key, value, "an integer")) from None

    def get_float(self, key: str) -> float:
        """The setting as a float."""
        value = self[key]
        try:
            return float(value)
        except (TypeError, ValueError):
            raise self.error_class(_bad_value(key, value, "a number")) from None

    def get_bool(self, key: str) -> bool:
        """The setting as a bool: '', '0', 'false', 'no', 'off', 'none' (any case) and None
        are False."""
        value = self[key]
        if isinstance(value, str):
            return value.strip().lower() not in _FALSE_WORDS
        return bool(value)

    def get_path(self, key: str) -> str:
        """The setting as an absolute path with ``~`` expanded ('' stays '')."""
        value = self.get_str(key)
        return os.path.abspath(os.path.expanduser(value)) if value else ""

    # helpers ------------------------------------------------------------------------
    def safedir(self, key: str) -> str:
        """Make sure the directory named by setting ``key`` exists; return its path."""
        path = self.get_path(key)
        os.makedirs(path, exist_ok=True)
        return path

    def env(self) -> dict[str, str]:
        """Every setting with a value, as strings (for a child process's environment).

        Settings whose value is None (e.g. an unset token) are left out, so that a child
        does not read the string ``'None'``.
        """
        found = {}
        for key in self.defaults:
            value = self[key]
            if value is not None:
                found[key] = str(value)
        return found


def _bad_value(key: str, value: Any, expected: str) -> str:
    return (f"setting {key}={value!r} is not {expected}; fix it in the environment "
            f"or the settings file")


def read_settings_file(path: str) -> dict[str, Any]:
    """Parse a settings file as data: top-level ``NAME = expression`` assignments."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        raise SettingsFileError(f"settings file {path}, line {e.lineno}: {e.msg}") from None
    scope: dict[str, Any] = {}
    for node in tree.body:
        target, value = _assignment(node)
        if target is None:
            if not isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)):
                log.warning("settings file %s line %s: ignored (not NAME = value)",
                            path, node.lineno)
            continue
        try:
            scope[target] = _evaluate(value, scope)
        except SettingsFileError as e:
            log.warning("settings file %s line %s: %s ignored: %s", path, node.lineno, target, e)
    return scope


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        if isinstance(target, ast.Name):
            return target.id, node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
        return node.target.id, node.value
    return None, None


_PATH_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "os.path.join": os.path.join,
    "os.path.expanduser": os.path.expanduser,
}


def _evaluate(node: ast.expr, scope: dict[str, Any]) -> Any:
    """Evaluate a small, side-effect-free subset of Python expressions."""
    if isinstance(node, ast.Name):
        if node.id in scope:
            return scope[node.id]
        raise SettingsFileError(f"unknown name {node.id!r}")
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod, ast.Mult)):
        left, right = _evaluate(node.left, scope), _evaluate(node.right, scope)
        try:
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Mult):
                return left * right
            return left % right
        except Exception as e:
            raise SettingsFileError(str(e)) from None
    if isinstance(node, ast.Call) and not node.keywords:
        function = _PATH_FUNCTIONS.get(ast.unparse(node.func))
        if function is None:
            raise SettingsFileError(f"call of {ast.unparse(node.func)} is not allowed")
        return function(*(_evaluate(a, scope) for a in node.args))
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_evaluate(e, scope) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise SettingsFileError(f"{ast.unparse(node)!r} is not a literal") from None
