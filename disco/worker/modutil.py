"""
:mod:`disco.worker.modutil` -- find the modules a job's functions need
======================================================================

Job functions that live in importable modules are pickled by reference, so
the node must be able to import those modules.  :func:`find_modules` finds
the modules a set of functions uses: the module each function is defined in
and the modules (or objects of modules) named in its code.  Modules whose
files lie under a user path (``sys.path`` entries other than the standard
library and site-packages, plus the job's directory) are returned as
``(name, path)`` and shipped in the job home; other modules are returned by
name and only imported on the node (DISCO.md §1.16).

Unlike Disco's bytecode scanner this reads ``co_names`` of the code objects,
so it works on every Python 3 version.
"""
from __future__ import annotations

import functools
import inspect
import os
import sys
import sysconfig
import types
import zipfile
from typing import Any, Iterable, Iterator

#: Packages always importable on a node (installed with Disco itself).
NODE_PACKAGES = ('disco', 'clx')


class ModUtilImportError(ImportError):
    def __init__(self, error: Exception, function: Any) -> None:
        super().__init__(error, function)
        self.error, self.function = error, function

    def __str__(self) -> str:
        return ("{0}: Could not find module defined in {1}. Is it in PYTHONPATH?"
                .format(self.error, getattr(self.function, '__name__', self.function)))


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
        call = getattr(type(value), '__call__', None)
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


def _code_names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


def parse_function(function: Any) -> set:
    """:return: names of the modules ``function`` uses (module and globals it names)."""
    modules = set()
    module = getattr(function, '__module__', None)
    if module and module != '__main__':
        modules.add(module)
    code = getattr(function, '__code__', None)
    scope = getattr(function, '__globals__', {})
    if code is None:
        return modules
    for name in _code_names(code):
        value = scope.get(name)
        if isinstance(value, types.ModuleType):
            modules.add(value.__name__)
        elif value is not None and hasattr(value, '__module__') and (
                inspect.isfunction(value) or inspect.isclass(value)):
            if value.__module__ and value.__module__ != '__main__':
                modules.add(value.__module__)
    return modules


def _is_node_module(name: str) -> bool:
    return name.split('.')[0] in NODE_PACKAGES or name in sys.builtin_module_names


def _module_file(name: str) -> str | None:
    module = sys.modules.get(name)
    path = getattr(module, '__file__', None)
    return os.path.realpath(path) if path else None


def recurse_module(name: str, paths: list) -> set:
    """:return: the user modules (under ``paths``) that module ``name`` imports."""
    module = sys.modules.get(name)
    found = set()
    for value in vars(module).values() if module else ():
        other = value.__name__ if isinstance(value, types.ModuleType) else \
            getattr(value, '__module__', None) if (inspect.isfunction(value)
                                                  or inspect.isclass(value)) else None
        if other and other != name and not _is_node_module(other):
            path = _module_file(other)
            if path and _inside(path, paths):
                found.add(other)
    return found


def locate_modules(modules: Iterable[str], recurse: bool = True, include_sys: bool = False,
                   paths: list | None = None) -> list:
    """:return: ``(name, path)`` for modules under the user paths, ``name`` otherwise."""
    paths = user_paths() if paths is None else paths
    pending, seen, located = sorted(set(modules)), set(), []
    while pending:
        name = pending.pop()
        if name in seen or _is_node_module(name) or name == '__main__':
            continue
        seen.add(name)
        path = _module_file(name)
        if path and _inside(path, paths):
            located.append((name, path))
            if recurse:
                pending.extend(sorted(recurse_module(name, paths) - seen))
        elif include_sys or path is None or name in sys.modules:
            located.append(name)
    return located


def find_modules(functions: Iterable, send_modules: bool = True, job_path: str | None = None,
                 recurse: bool = True, exclude: Iterable[str] = ()) -> list:
    """:return: the ``required_modules`` list for ``functions``."""
    excluded = set(exclude)
    names = set()
    for function in functions:
        names |= {name for name in parse_function(function) if name not in excluded}
    located = locate_modules(names, recurse=recurse, paths=user_paths(job_path))
    if send_modules:
        return located
    return [entry[0] if isinstance(entry, tuple) else entry for entry in located]


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
