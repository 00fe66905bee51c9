"""Pickling of job objects for shipping to nodes (layer 0: stdlib + cloudpickle).

Functions and classes that a node could not import are pickled **by value** (code,
defaults, closure cells and the globals they use): anything defined in ``__main__`` (a
script or notebook), lambdas, closures, nested or decorated functions, ``partial`` objects
over such functions, and everything from user modules outside ``site-packages`` and the
standard library. Functions from the standard library, installed packages and ``disco``
itself go by reference. This replaces Disco's marshal-based pickler, which dropped
globals and closures (a job's function could not use a name imported at its module's top).
"""
from __future__ import annotations

import functools
import io
import logging
import os
import pickle
import site
import sys
import sysconfig
import types
from typing import Any

import cloudpickle
from cloudpickle import cloudpickle as _cloudpickle_impl

log = logging.getLogger(__name__)

__all__ = ["dumps", "loads", "dump", "load", "Pickler", "is_user_module"]

#: top-level packages that are always installed on nodes
_SHIPPED_PACKAGES = frozenset({"disco", "clx", "cloudpickle"})


def _library_dirs() -> tuple[str, ...]:
    dirs = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(os.path.realpath(path))
    try:
        dirs.update(os.path.realpath(p) for p in site.getsitepackages())
    except AttributeError:  # virtualenv's old site module
        pass
    user_site = getattr(site, "getusersitepackages", lambda: None)()
    if user_site:
        dirs.add(os.path.realpath(user_site))
    return tuple(sorted(dirs))


_LIBRARY_DIRS = _library_dirs()


@functools.lru_cache(maxsize=4096)
def is_user_module(name: str | None) -> bool:
    """True when module ``name`` may not be importable on a node (so ship by value)."""
    if not name or name in ("__main__", "__mp_main__"):
        return True
    top = name.partition(".")[0]
    if top in _SHIPPED_PACKAGES or top in sys.stdlib_module_names:
        return False
    module = sys.modules.get(name)
    if module is None:
        return True
    path = getattr(module, "__file__", None)
    if not path:
        return False  # builtin or namespace module: importable wherever it exists
    path = os.path.realpath(path)
    if "site-packages" in path or "dist-packages" in path:
        return False
    return not any(path.startswith(d + os.sep) for d in _LIBRARY_DIRS)


class Pickler(cloudpickle.Pickler):
    """A cloudpickle Pickler that also ships functions/classes of user modules by value."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.FunctionType) and is_user_module(obj.__module__):
            return self._dynamic_function_reduce(obj)
        if isinstance(obj, type) and _is_user_class(obj):
            return _cloudpickle_impl._dynamic_class_reduce(obj)
        return super().reducer_override(obj)


def _is_user_class(cls: type) -> bool:
    module = getattr(cls, "__module__", None)
    if not isinstance(module, str) or module == "builtins":
        return False
    return is_user_module(module)


def dumps(obj: Any, protocol: int | None = None) -> bytes:
    """Pickle ``obj``; a negative or None ``protocol`` means the highest."""
    if protocol is None or protocol < 0:
        protocol = pickle.HIGHEST_PROTOCOL
    buffer = io.BytesIO()
    Pickler(buffer, protocol=protocol).dump(obj)
    return buffer.getvalue()


def dump(obj: Any, file: Any, protocol: int | None = None) -> None:
    """Pickle ``obj`` into the binary ``file``."""
    file.write(dumps(obj, protocol))


loads = pickle.loads
load = pickle.load
