"""
:mod:`disco.worker.classic.external` -- map/reduce with an external program
===========================================================================

When a classic job's ``map`` or ``reduce`` is a dict of files (built with
:func:`disco.util.external`), the files live in ``ext.<stage>/`` of the job
home and ``op`` is run as ``op map`` / ``op reduce`` (DISCO.md §1.6).

Wire format on the program's stdin/stdout: first the parameters (a dict is
sent netstring-encoded, anything else as ``0\\n``), then key/value pairs as
``<uint32 native-endian length><bytes>`` each.  The program answers in batches:
``<uint32 count>`` and that many pairs.  Map: per input entry one pair is
written and one batch read.  Reduce: all pairs are streamed, stdin closed,
and batches read until EOF (as Disco's ``communicate``).
Lines on its stderr starting ``**<MSG>`` become MSGs, ``**<ERR>`` fails the job.
"""
from __future__ import annotations

import collections
import os
import struct
import sys
import threading
from typing import Any, Callable, Iterable

from disco.worker.classic.netstring import encode_netstring_fd
from disco.error import DiscoError

_LENGTH = struct.Struct('=I')
_processes: list = []


class ExternalError(DiscoError):
    """The external program reported an error (``**<ERR>``) or broke the protocol."""


def package(files: Iterable[str]) -> dict:
    """``{'op': bytes of the first file, basename: bytes, ...}``."""
    files = list(files)
    packed = {}
    for index, path in enumerate(files):
        with open(path, 'rb') as handle:
            packed['op' if index == 0 else os.path.basename(path)] = handle.read()
    return packed


def _bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value).encode('utf-8')


def _params_bytes(params: Any) -> bytes:
    if isinstance(params, dict):
        return encode_netstring_fd(params)
    return b'0\n'


class ExternalProgram(object):
    """One running external program and the threads that watch its stderr."""

    def __init__(self, mode: str, params: Any) -> None:
        directory = 'ext.{0}'.format(mode)
        op = os.path.join(directory, 'op')
        os.chmod(op, 0o755)
        self.errors: list = []
        #: lines of the program's stderr for MSG, filled by the watching thread and sent by
        #: the task's own thread (the protocol channel is not shared between threads)
        self.messages: collections.deque = collections.deque()
        # imported here, as in `close`: the client imports this module with the classic
        # worker, and subprocess was ~1.5 ms of every `import disco.core`
        import subprocess
        self.proc = subprocess.Popen([os.path.abspath(op), mode], cwd=directory,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.watcher = threading.Thread(target=self._watch_stderr, daemon=True)
        self.watcher.start()
        self.proc.stdin.write(_params_bytes(params))
        self.proc.stdin.flush()

    def _watch_stderr(self) -> None:
        for line in self.proc.stderr:
            text = line.decode('utf-8', 'replace').rstrip()
            if text.startswith('**<ERR>'):
                self.errors.append(text[len('**<ERR>'):].strip())
            elif text.startswith('**<MSG>'):
                self.messages.append(text[len('**<MSG>'):].strip())
            elif text.strip():
                self.messages.append(text)

    def send_messages(self) -> None:
        """One MSG per line the program wrote to its stderr so far."""
        while self.messages:
            sys.stdout.write(self.messages.popleft() + '\n')

    def write_pair(self, key: Any, value: Any) -> None:
        key, value = _bytes(key), _bytes(value)
        self.proc.stdin.write(_LENGTH.pack(len(key)) + key + _LENGTH.pack(len(value)) + value)

    def read_exact(self, size: int) -> bytes | None:
        data = self.proc.stdout.read(size)
        if not data:
            return None
        if len(data) != size:
            self.check()
            raise ExternalError("External program sent a truncated message")
        return data

    def read_item(self) -> bytes | None:
        header = self.read_exact(4)
        if header is None:
            return None
        (length,) = _LENGTH.unpack(header)
        return self.read_exact(length) if length else b''

    def read_pair(self) -> tuple | None:
        key = self.read_item()
        if key is None:
            return None
        value = self.read_item()
        if value is None:
            self.check()
            raise ExternalError("External program sent a key without a value")
        return key, value

    def check(self) -> None:
        if self.errors:
            raise ExternalError("External program failed: {0}".format('; '.join(self.errors)))

    def map(self, entry: Any, params: Any) -> list:
        key, value = entry if isinstance(entry, tuple) and len(entry) == 2 else (b'', entry)
        self.write_pair(key, value)
        self.proc.stdin.flush()
        header = self.read_exact(4)
        if header is None:
            self.check()
            raise ExternalError("External map program exited unexpectedly")
        (count,) = _LENGTH.unpack(header)
        pairs = [self.read_pair() for _ in range(count)]
        self.send_messages()
        self.check()
        return pairs

    def reduce(self, entries: Iterable, out: Any, params: Any) -> None:
        feeder = threading.Thread(target=self._feed, args=(entries,), daemon=True)
        feeder.start()
        while True:
            header = self.read_exact(4)
            if header is None:
                break
            (count,) = _LENGTH.unpack(header)
            for _ in range(count):
                pair = self.read_pair()
                if pair is None:
                    self.check()
                    raise ExternalError("External reduce program ended inside a batch")
                out.add(*pair)
            if self.messages:
                self.send_messages()
        feeder.join()
        self.send_messages()
        self.check()

    def _feed(self, entries: Iterable) -> None:
        try:
            for key, value in entries:
                self.write_pair(key, value)
        finally:
            self.proc.stdin.close()

    def close(self) -> None:
        import subprocess
        if self.proc.poll() is None:
            if not self.proc.stdin.closed:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.watcher.join(timeout=10)  # the program exited: its stderr ends soon
        self.send_messages()
        self.check()


def prepare(params: Any, mode: str) -> Callable:
    """Start the external program for ``mode``; :return: the map/reduce function."""
    program = ExternalProgram(mode, params)
    _processes.append(program)
    return program.map if mode == 'map' else program.reduce


def close() -> None:
    """Wait for (or stop) every external program started by this worker."""
    while _processes:
        _processes.pop().close()
