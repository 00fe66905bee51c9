"""Names Disco's py2/py3 compatibility module exported, for Python 3 only (layer 0).

Jobs written for Disco import these (``bytes_to_str``, ``str_to_bytes``, ``BytesIO``,
``StringIO``, ``file``, ``http_server`` ...), so they stay importable here.
"""
from __future__ import annotations

import hashlib
import importlib
import logging
import pickle
from io import BytesIO, FileIO as file, StringIO
from itertools import zip_longest
from typing import Any

log = logging.getLogger(__name__)

#: names imported on first use (module ``__getattr__``): ``http.server`` and ``socketserver``
#: alone were ~3.5 ms of every client's ``import disco.core``, for names few jobs use
_LAZY = {"httplib": ("http.client", None), "http_server": ("http.server", None),
         "socket_server": ("socketserver", None), "urlencode": ("urllib.parse", "urlencode")}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    value = importlib.import_module(module_name)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value

__all__ = [
    "basestring", "integer_types", "bytes_of_int", "int_of_byte", "str_to_bytes", "bytes_to_str",
    "force_utf8", "force_ascii", "StringIO", "BytesIO", "file", "pickle_loads", "pickle_dumps",
    "pickle_load", "pickle_dump", "UnpicklingError", "zip_longest", "sort_cmd",
    "persistent_hash", *_LAZY,
]

basestring = str
integer_types = (int,)

pickle_loads, pickle_dumps = pickle.loads, pickle.dumps
pickle_load, pickle_dump = pickle.load, pickle.dump
UnpicklingError = pickle.UnpicklingError


def bytes_of_int(i: int) -> bytes:
    return bytes([i])


def int_of_byte(b: int) -> int:
    return b


def str_to_bytes(s: str | bytes) -> bytes:
    """UTF-8 encode a str; bytes pass through."""
    if isinstance(s, bytes):
        return s
    return s.encode("utf-8")


def bytes_to_str(b: str | bytes) -> str:
    """UTF-8 decode bytes; str passes through."""
    if isinstance(b, str):
        return b
    return bytes(b).decode("utf-8")


def force_utf8(string: Any) -> Any:
    return string


def force_ascii(string: Any) -> Any:
    return string


def sort_cmd(filename: str, sort_buffer_size: str) -> tuple[list[str], bool]:
    """The external sort command for ``disk_sort`` files (run with ``LC_ALL=C``).

    Records are NUL-terminated, keys end at the first ``\\xff``. Returned as an argv list
    (``shell=False``): Disco's py3 variant built a bash-only ``$'\\xff'`` shell string.
    """
    return (["sort", "-z", "-t", "\xff", "-k", "1,1", "-T", ".", "-S", str(sort_buffer_size),
             "-o", filename, filename], False)


def persistent_hash(key: Any) -> int:
    """A hash of ``key`` that is the same in every process (unlike ``hash`` of str/bytes).

    bytes are hashed as they are, str as UTF-8, other objects through ``str()``.
    """
    if not isinstance(key, (bytes, bytearray, memoryview)):
        key = str(key).encode("utf-8")
    return int.from_bytes(hashlib.md5(key).digest()[:8], "big")
