"""
:mod:`disco.worker.modutil` -- find the modules a job's functions need
======================================================================

:func:`find_modules` guesses the modules a set of functions uses, with Disco's rule: a
global name used with the dot notation (``random.random()``, ``mod1.plusceil(x)``) names
a module, whether or not the function's module imported it, because the worker imports
each required module on the node and puts it in the job functions' globals.  Disco read
Python 2 bytecode by hand; this reads it with :mod:`dis`, so it works on every Python 3
(3.11's ``LOAD_METHOD`` and 3.12's ``LOAD_ATTR`` alike), and it also looks inside nested
code (generator expressions, lambdas, inner functions), which Disco did not.  A name bound
to a module under another name (``import numpy as np``) gives the module's real name;
a name bound to anything else, and builtins, are not modules.

Modules whose files lie under a user path (``PYTHONPATH``, the current directory,
non-system ``sys.path`` entries, the job's directory) are returned as ``(name, path)``
and shipped in the job home, with the user modules they import (``recurse``); other
modules are returned by name and only imported on the node (DISCO.md §1.16).
"""
from __future__ import annotations

import ast
import builtins
import dis
import functools
import importlib.machinery
import importlib.util
import inspect
import os
import sys
import sysconfig
import types
import zipfile
from typing import Any, Iterable, Iterator

from disco.error import DiscoError

#: Packages always importable on a node (installed with Disco itself).
NODE_PACKAGES = ('disco', 'clx')


class ModUtilImportError(DiscoError, ImportError):
    """A module that a job function uses cannot be found (Disco's class)."""

    def __init__(self, error: Exception, function: Any) -> None:
        super().__init__(error, function)
        self.error, self.function = error, function

    def __str__(self) -> str:
        return ("{0}: Could not find module used in {1}. Maybe it is a typo, or the module "
                "is not on PYTHONPATH; give required_modules=[...] to list the modules "
                "yourself.".format(self.error, getattr(self.function, '__name__',
                                                      self.function)))


def callables(value: Any) -> Iterator:
    """Yield the callables found in a job parameter value (recursing into
    lists, tuples, dicts, partials, Params-like objects and pipeline stages)."""
    if isinstance(value, functools.partial):
        yield value.func
        yield from callables(list(value.args) + list(value.keywords.values()))
    elif isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
        yield value
    elif isinstance(value, types.MethodType):
        yield value.__func__
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from callables(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from callables(item)
    elif hasattr(value, '_callables'):
        yield from callables(value._callables())
    elif callable(value) and not isinstance(value, type):
        call = getattr(type(value), '__call__', None)  # noqa: B004  (the class's __call__)
        if isinstance(call, types.FunctionType):
            yield call


def source_path(obj: Any) -> str | None:
    """:return: the source file of the module defining ``obj`` (or its class)."""
    module = inspect.getmodule(obj if inspect.isclass(obj) or inspect.isfunction(obj)
                               else type(obj))
    path = getattr(module, '__file__', None)
    if path and os.path.isfile(path):
        return os.path.abspath(path)
    return None


def _system_paths() -> list:
    paths = set()
    for key in ('stdlib', 'platstdlib', 'purelib', 'platlib'):
        path = sysconfig.get_paths().get(key)
        if path:
            paths.add(os.path.realpath(path))
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix):
        paths.add(os.path.realpath(os.path.join(prefix, 'lib')))
    return sorted(paths)


def user_paths(job_path: str | None = None) -> list:
    """Directories whose modules are shipped: PYTHONPATH, the current directory,
    non-system ``sys.path`` entries and the job's directory."""
    system = _system_paths()
    candidates = [p for p in os.environ.get('PYTHONPATH', '').split(':') if p]
    candidates += [os.getcwd()] + [p or os.getcwd() for p in sys.path]
    if job_path:
        candidates.append(os.path.dirname(job_path))
    result = []
    for path in candidates:
        real = os.path.realpath(path)
        if os.path.isdir(real) and real not in result and not _inside(real, system):
            result.append(real)
    return result


def _inside(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip('/') + '/') for root in roots)


def _dotted_globals(code: types.CodeType) -> Iterator[str]:
    """Global names of ``code`` (and of the code nested in it) used as ``name.attr``."""
    previous = None
    for instruction in dis.get_instructions(code):
        if (previous is not None and previous.opname == 'LOAD_GLOBAL'
                and instruction.opname in ('LOAD_ATTR', 'LOAD_METHOD')):
            yield previous.argval
        previous = instruction
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _dotted_globals(const)


_UNBOUND = object()


def _module_name(name: str, scope: dict) -> str | None:
    """The module a dotted global ``name`` stands for in ``scope``, or None."""
    value = scope.get(name, _UNBOUND)
    if value is _UNBOUND:
        # not defined where the function lives: a module for the worker to import
        return None if hasattr(builtins, name) else name
    return value.__name__ if isinstance(value, types.ModuleType) else None


def parse_function(function: Any) -> list:
    """:return: the names of the modules ``function`` uses with the dot notation."""
    if isinstance(function, functools.partial):
        return parse_function(function.func)
    code = getattr(function, '__code__', None)
    if code is None:
        return []
    scope = getattr(function, '__globals__', {})
    names = []
    for name in _dotted_globals(code):
        module = _module_name(name, scope)
        if module and module not in names:
            names.append(module)
    return names


def defining_modules(functions: Iterable) -> set:
    """:return: the modules (other than ``__main__``) where ``functions`` are defined: a
    function pickled by reference needs its module on the node."""
    names = set()
    for function in functions:
        function = function.func if isinstance(function, functools.partial) else function
        module = getattr(function, '__module__', None)
        if module and module != '__main__':
            names.add(module)
    return names


def _is_node_module(name: str) -> bool:
    return name.split('.')[0] in NODE_PACKAGES or name in sys.builtin_module_names


def module_file(name: str) -> str | None:
    """The real path of module ``name``'s file (None for built-in modules).

    :raises ImportError: when no module of that name can be found.
    """
    module = sys.modules.get(name)
    if module is not None:
        path = getattr(module, '__file__', None)
        return os.path.realpath(path) if path else None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as error:
        raise ImportError("No module named {0!r} ({1})".format(name, error)) from None
    if spec is None:
        raise ImportError("No module named {0!r}".format(name))
    origin = spec.origin if spec.has_location else None
    return os.path.realpath(origin) if origin else None


def recurse_module(name: str, path: str, paths: list | None = None) -> set:
    """:return: ``(name, path)`` of the user modules (under ``paths``) that the module
    file ``path`` imports, directly or not: read from the files' import statements, found
    with :class:`importlib.machinery.PathFinder`, never imported."""
    paths = user_paths() if paths is None else paths
    found: dict = {}
    pending = [path]
    while pending:
        for imported in _imported_names(pending.pop()):
            if imported in found or imported == name or _is_node_module(imported):
                continue
            file = _user_module_file(imported, paths)
            if file:
                found[imported] = file
                pending.append(file)
    return set(found.items())


def _imported_names(path: str) -> list:
    """The absolute module names a Python file imports (``import a.b``, ``from a import b``)."""
    try:
        with open(path, 'rb') as source:
            tree = ast.parse(source.read(), path)
    except (OSError, SyntaxError, ValueError):
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _user_module_file(dotted: str, paths: list) -> str | None:
    """The source file of module ``dotted`` if it lies under ``paths`` (a name that is not a
    module -- ``from a import function`` -- gives None); nothing is imported."""
    search = None
    spec = None
    for part in dotted.split('.'):
        spec = importlib.machinery.PathFinder.find_spec(part, search)
        if spec is None:
            return None
        search = spec.submodule_search_locations
    origin = spec.origin if spec is not None and spec.has_location else None
    if not origin or not origin.endswith('.py'):
        return None
    real = os.path.realpath(origin)
    return real if _inside(real, paths) else None


def locate_modules(modules: Iterable[str], recurse: bool = True, include_sys: bool = False,
                   paths: list | None = None) -> list:
    """:return: ``(name, path)`` for modules under the user paths (and, with ``recurse``,
    the user modules they import); ``name`` for other modules when ``include_sys``.

    :raises ImportError: when a module cannot be found.
    """
    paths = user_paths() if paths is None else paths
    located: dict = {}
    for name in sorted(set(modules)):
        if _is_node_module(name) or name == '__main__':
            continue
        path = module_file(name)
        if path and _inside(path, paths) and os.path.isfile(path):
            located[name] = path
            if recurse:
                located.update(dict(recurse_module(name, path, paths)))
        elif include_sys:
            located.setdefault(name, None)
    return [(name, path) if path else name for name, path in sorted(located.items())]


def find_modules(functions: Iterable, send_modules: bool = True, job_path: str | None = None,
                 recurse: bool = True, exclude: Iterable[str] = ()) -> list:
    """:return: the ``required_modules`` list for ``functions`` (Disco's rule, above).

    With ``send_modules`` false only the module names are returned, nothing is looked up
    and ``recurse`` does not apply (as in Disco).

    :raises ModUtilImportError: when ``send_modules`` and a module cannot be found.
    """
    excluded = set(exclude)
    paths = user_paths(job_path)
    modules: list = []
    for function in functions:
        names = [name for name in parse_function(function) if name not in excluded]
        if send_modules:
            try:
                names = locate_modules(names, recurse=recurse, include_sys=True, paths=paths)
            except ImportError as error:
                raise ModUtilImportError(error, function) from None
        modules.extend(name for name in names if name not in modules)
    return modules


def job_modules(functions: Iterable, job_path: str | None = None,
                exclude: Iterable[str] = ()) -> list:
    """:return: a job's automatic ``required_modules``: :func:`find_modules` plus the user
    modules that define the functions (and what those import)."""
    functions = list(functions)
    modules = find_modules(functions, job_path=job_path, exclude=exclude)
    defining = locate_modules(defining_modules(functions), paths=user_paths(job_path))
    return modules + [entry for entry in defining if entry not in modules]


def write_module_file(jobzip: zipfile.ZipFile, path: str | None, written: set) -> None:
    """Add ``path`` (mirrored under its absolute path) and the ``__init__.py``
    files of the packages that contain it to the job home zip."""
    if not path or not os.path.isfile(path) or _is_node_file(path):
        return
    for file in [path] + _package_inits(path):
        arcname = os.path.abspath(file).lstrip('/')
        if arcname not in written:
            written.add(arcname)
            jobzip.write(file, arcname)


def _is_node_file(path: str) -> bool:
    """True for files of the packages installed on every node (never shipped)."""
    real = os.path.realpath(path)
    for name in NODE_PACKAGES:
        package = sys.modules.get(name)
        package_file = getattr(package, '__file__', None)
        if package_file and _inside(real, [os.path.dirname(os.path.realpath(package_file))]):
            return True
    return False


def _package_inits(path: str) -> list:
    inits = []
    directory = os.path.dirname(os.path.abspath(path))
    while os.path.isfile(os.path.join(directory, '__init__.py')):
        inits.append(os.path.join(directory, '__init__.py'))
        directory = os.path.dirname(directory)
    return inits
