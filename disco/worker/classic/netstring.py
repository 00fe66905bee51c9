"""
:mod:`disco.worker.classic.netstring` -- parameters for external programs
=========================================================================

A dict is encoded as lines ``"<klen> <key> <vlen> <value>\\n"``; on a file the
body is preceded by ``"<len>\\n"`` (DISCO.md §1.6).  Keys and values are bytes
(str is encoded as UTF-8).
"""
from __future__ import annotations

from typing import IO

from disco.error import DiscoError


class NetStringError(DiscoError):
    pass


def _bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode('utf-8')


def encode_netstring_str(d: dict) -> bytes:
    parts = []
    for key, value in d.items():
        key, value = _bytes(key), _bytes(value)
        parts.append(b'%d %s %d %s\n' % (len(key), key, len(value), value))
    return b''.join(parts)


def encode_netstring_fd(d: dict) -> bytes:
    body = encode_netstring_str(d)
    return b'%d\n%s' % (len(body), body)


def decode_netstring_str(data: bytes) -> dict:
    result, pos = {}, 0
    while pos < len(data):
        key, pos = _read_item(data, pos)
        value, pos = _read_item(data, pos)
        if data[pos:pos + 1] != b'\n':
            raise NetStringError("Missing newline after value at byte {0}".format(pos))
        pos += 1
        result[key] = value
    return result


def _read_item(data: bytes, pos: int) -> tuple:
    space = data.find(b' ', pos)
    if space < 0:
        raise NetStringError("Missing length at byte {0}".format(pos))
    try:
        length = int(data[pos:space])
    except ValueError:
        raise NetStringError("Invalid length at byte {0}".format(pos))
    start = space + 1
    end = start + length
    if end > len(data):
        raise NetStringError("Truncated netstring at byte {0}".format(pos))
    stop = end + 1 if data[end:end + 1] == b' ' else end
    return data[start:end], stop


def decode_netstring_fd(fd: IO[bytes]) -> dict:
    header = fd.readline()
    try:
        length = int(header)
    except ValueError:
        raise NetStringError("Invalid netstring length {0!r}".format(header))
    body = fd.read(length)
    if len(body) != length:
        raise NetStringError("Truncated netstring body")
    return decode_netstring_str(body)
