"""
:mod:`disco.worker.channel` -- the worker's end of the protocol channel
======================================================================

While a worker runs, fds 0-2 belong to this module: frames go out on a private copy of fd 2,
replies come in on a private copy of fd 0, ``sys.stdout``/``sys.stderr`` become
:class:`MessageWriter` objects (every non-empty line is a ``MSG``), and fds 1 and 2 point at an
in-memory file whose lines are forwarded as ``MSG`` before the next protocol message
(:class:`StrayOutput`), so a stray write from C code or a child process never corrupts a frame.
"""
from __future__ import annotations

import _thread
import io
import os
import sys
from typing import Any, Iterable, Iterator

from disco.error import DataError
from disco.protocol.framing import encode, read_message

#: Replies that never come: the node kills the worker after these messages.
NO_REPLY = frozenset(('DONE', 'ERROR', 'FATAL'))


class Channel(object):
    """The worker's end of the protocol: frames out on a private copy of fd 2,
    replies in on a private copy of fd 0.  One lock makes request+reply atomic
    (job code may send from its own threads)."""

    def __init__(self, infile: io.BufferedReader, outfile: Any) -> None:
        self.infile = infile
        self.outfile = outfile
        self.lock = _thread.RLock()  # threading.RLock's, without its Python wrapper

    def request(self, name: str, payload: Any = '') -> tuple:
        """Send one message; :return: the reply ``(name, payload)`` (or None)."""
        with self.lock:
            if _stray is not None:  # what C code / children wrote comes before this message
                _stray.forward(self)
            self.outfile.write(encode(name, payload))
            self.outfile.flush()
            if name in NO_REPLY:
                return None
            reply = read_message(self.infile)
        if reply is None:
            raise EOFError("Node closed the worker protocol channel")
        return reply


_channel: Channel | None = None
#: where fds 1/2 point while a task runs (see `install_channel`)
_stray: 'StrayOutput | None' = None
#: ``sys.stdin`` for a task, opened ahead by the process it was forked from (`preopen_stdin`)
_null_stdin: io.TextIOWrapper | None = None
#: longest piece of stray output read at once (lines longer than this are split)
STRAY_CHUNK = 1 << 20


def install_channel(sender: Any) -> Channel:
    """Take over fds 0-2: keep private copies for the protocol, point fd 0 at
    /dev/null and fds 1-2 at an anonymous in-memory file forwarded as MSGs
    (:class:`StrayOutput`), and replace ``sys.stdin/stdout/stderr`` by writers whose
    lines ``sender.send('MSG', line)`` sends."""
    global _channel, _stray
    # os.fdopen's files, without its Python frame and import
    proto_in = open(os.dup(0), 'rb')  # noqa: SIM115 - the channel's, for the task's life
    proto_out = open(os.dup(2), 'wb')  # noqa: SIM115
    _channel = Channel(proto_in, proto_out)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    _stray = StrayOutput()
    stdin = _null_stdin
    sys.stdin = stdin if stdin is not None and not stdin.closed else open(os.devnull)
    sys.stdout = MessageWriter(sender)
    sys.stderr = MessageWriter(sender)
    return _channel


def preopen_stdin() -> None:
    """Open the task's ``sys.stdin`` (/dev/null as text) ahead, in a process whose forked
    children become workers (the node's fork server): `install_channel` in each child then
    takes its own copy instead of opening one (~0.1 ms, mostly copy-on-write faults of the
    codec machinery). Reading /dev/null has no position for the children to share."""
    global _null_stdin
    _null_stdin = open(os.devnull)  # noqa: SIM115 - kept open for the children


def drain_stray_output() -> None:
    """Send what was written to fds 1/2 before the task's last message (a line without
    its newline included): nothing is waited for, a child process that still holds the
    fds cannot delay the end of the task."""
    if _stray is not None and _channel is not None:
        _stray.forward(_channel, final=True)


class StrayOutput(object):
    """Lines written directly to fds 1/2 (C code, child processes), forwarded as MSGs.

    The fds point at an anonymous in-memory file (``memfd``; an unlinked temporary file
    where there is none) rather than a pipe: writes never block, so no thread has to
    drain it while the task runs (starting one cost ~0.5 ms of every task). What was
    written is read with ``pread`` -- the writers' shared offset is left alone -- and
    sent before each protocol message and at the end of the task."""

    def __init__(self) -> None:
        self.fd = _anonymous_file()
        os.dup2(self.fd, 1)
        os.dup2(self.fd, 2)
        self.offset = 0
        self.partial = b''
        self.forwarding = False

    def forward(self, channel: Channel, final: bool = False) -> None:
        """Send every complete line written since the last call (and, if ``final``, the
        incomplete last one) as MSG; empty lines are skipped, as Disco's MSG must not be
        empty."""
        if self.forwarding:  # our own MSGs go through `Channel.request` too
            return
        self.forwarding = True
        try:
            for line in self._new_lines(final):
                text = line.decode('utf-8', 'replace').strip()
                if text:
                    channel.request('MSG', text)
        finally:
            self.forwarding = False

    def _new_lines(self, final: bool) -> Iterator[bytes]:
        while True:
            size = os.fstat(self.fd).st_size
            if size <= self.offset:
                break
            data = self.partial + os.pread(self.fd, min(size - self.offset, STRAY_CHUNK),
                                           self.offset)
            self.offset += len(data) - len(self.partial)
            lines = data.split(b'\n')
            self.partial = lines.pop()
            if len(self.partial) >= STRAY_CHUNK:
                lines.append(self.partial)
                self.partial = b''
            yield from lines
        if final and self.partial:
            partial, self.partial = self.partial, b''
            yield partial


def _anonymous_file() -> int:
    memfd_create = getattr(os, 'memfd_create', None)
    if memfd_create is not None:
        try:
            return memfd_create('disco-stray-output', os.MFD_CLOEXEC)
        except OSError:
            pass
    import tempfile
    return os.dup(tempfile.TemporaryFile().fileno())


class MessageWriter(object):
    """A text file whose writes are sent as MSGs: text is collected up to a
    newline (so one ``print`` is one MSG, as in Disco) and sent stripped, if
    not empty; :meth:`flush` sends what is left."""
    encoding = 'utf-8'
    errors = 'replace'

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.pending = ''

    @classmethod
    def force_utf8(cls, string: Any) -> str:
        if isinstance(string, bytes):
            return string.decode('utf-8', 'replace')
        return str(string)

    def write(self, string: Any) -> int:
        text = self.force_utf8(string)
        self.pending += text
        if '\n' in text:
            complete, _, self.pending = self.pending.rpartition('\n')
            self.send(complete)
        return len(text)

    def send(self, text: str) -> None:
        stripped = text.strip()
        if stripped:
            self.worker.send('MSG', stripped)

    def writelines(self, lines: Iterable) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pending, self.pending = self.pending, ''
        self.send(pending)

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return 2


def request(name: str, payload: Any = '') -> tuple | None:
    """Send one message on the installed channel; :return: the reply ``(name, payload)``."""
    if _channel is None:
        raise DataError("Not running under a Disco node (no protocol channel)", name)
    return _channel.request(name, payload)


def wait_for_next_task() -> Any:
    """Worker reuse: block until the node starts this worker's next task (``NEXT``).

    :return: the ``NEXT`` payload -- the next task's ``TASK`` payload (a dict: the worker
             then skips ``WORKER`` and ``TASK``), or ``''`` (the worker starts its session
             with ``WORKER``) -- or None when the node closed the channel instead (the worker
             is not wanted any more)."""
    if _channel is None:
        return None
    try:
        with _channel.lock:
            message = read_message(_channel.infile)
    except EOFError:
        return None
    if message[0] != 'NEXT':
        return None
    return message[1]


def flush_writers() -> None:
    """Send what job code printed without a final newline."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, MessageWriter):
            stream.flush()
