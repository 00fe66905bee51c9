"""
:mod:`disco.eventmonitor` -- echo a job's events while waiting for it
=====================================================================

:meth:`disco.core.Disco.wait` refreshes an :class:`EventMonitor`, which
prints the job's new events and a status line when ``DISCO_EVENTS`` (or the
``show`` argument) asks for it: ``json`` (one JSON array per event),
``nocolor`` (plain text) or anything else truthy (ANSI colours).
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, IO

from disco.error import CommError


class TextEventWriter(object):
    """Plain text: ``timestamp host message``."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout

    def event(self, timestamp: str, host: str, message: str) -> None:
        self.write('{0} {1} {2}'.format(timestamp, host, message))

    def status(self, line: str) -> None:
        self.write(line)

    def write(self, text: str) -> None:
        self.stream.write(text + '\n')
        self.stream.flush()


class ANSIEventWriter(TextEventWriter):
    """Text with the event kind coloured (errors red, warnings yellow, ready green)."""
    COLOURS = (('ERROR', '31'), ('FATAL', '31'), ('WARN', '33'), ('READY', '32'),
               ('DONE', '36'), ('MSG', '0'))

    def event(self, timestamp: str, host: str, message: str) -> None:
        colour = next((code for prefix, code in self.COLOURS if message.startswith(prefix)), '0')
        self.write('\x1b[1m{0} {1}\x1b[0m \x1b[{2}m{3}\x1b[0m'.format(timestamp, host, colour,
                                                                     message))


class JSONEventWriter(TextEventWriter):
    """One JSON array ``[timestamp, host, message]`` per event."""

    def event(self, timestamp: str, host: str, message: str) -> None:
        self.write(json.dumps([timestamp, host, message]))

    def status(self, line: str) -> None:
        self.write(json.dumps({'status': line}))


def make_writer(format: Any, stream: IO[str] | None = None) -> TextEventWriter | None:
    if not format:
        return None
    if format == 'json':
        return JSONEventWriter(stream)
    if format == 'nocolor':
        return TextEventWriter(stream)
    return ANSIEventWriter(stream)


def status_line(pipeline: list) -> str:
    """``Status: [stage] a pending, b waiting, c running, d done, e failed`` per stage."""
    parts = ['[{0}] {1} pending, {2} waiting, {3} running, {4} done, {5} failed'
             .format(*row[:6]) for row in pipeline if len(row) >= 6]
    return 'Status: ' + ', '.join(parts)


class EventMonitor(object):
    """Prints new events of ``job`` (anything with ``events(offset)`` and ``jobinfo()``)."""

    def __init__(self, job: Any, format: Any = None, poll_interval: float = 2,
                 stream: IO[str] | None = None) -> None:
        self.job = job
        self.writer = make_writer(format, stream)
        self.poll_interval = poll_interval
        self.offset = 0
        self.last_status = None
        self.last_poll = 0.0

    def refresh(self, force: bool = False) -> None:
        if self.writer is None:
            return
        if not force and time.time() - self.last_poll < self.poll_interval / 2.0:
            return
        self.last_poll = time.time()
        try:
            self.show_events()
            self.show_status()
        except CommError:
            pass  # the master may be busy; the next refresh shows what was missed

    def show_events(self) -> None:
        for offset, event in self.job.events(offset=self.offset):
            self.offset = offset
            timestamp, host, message = (list(event) + ['', '', ''])[:3]
            self.writer.event(timestamp, host, message)

    def show_status(self) -> None:
        line = status_line(self.job.jobinfo().get('pipeline', []))
        if line != self.last_status:
            self.last_status = line
            self.writer.status(line)
