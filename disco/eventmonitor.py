"""
:mod:`disco.eventmonitor` -- echo a job's events while waiting for it
=====================================================================

:meth:`disco.core.Disco.wait` refreshes an :class:`EventMonitor`, which
prints the job's name, its new events and a status line for the stage in
progress when ``DISCO_EVENTS`` (or the ``show`` argument) asks for it:

* ``json`` -- one JSON array ``[timestamp, host, message]`` per event, on stdout;
* ``nocolor`` -- plain text on stderr;
* anything else truthy -- ANSI colours on stderr when it is a terminal, plain
  text otherwise (as Disco, which checks the terminal's colours);
* empty/false -- nothing at all.

The status line is Disco's: ``Status: [stage] a pending, b waiting, c running,
d done, e failed`` for the last stage that has tasks; it is printed whenever it
changes, so a terminal shows the job's progress stage by stage.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

from disco.error import CommError

log = logging.getLogger(__name__)

#: ANSI SGR colour codes per event kind (message prefix)
COLOURS = (('ERROR', '31'), ('FATAL', '31'), ('WARN', '35'), ('READY', '32'),
           ('DONE', '36'), ('MSG', '0'))


class TextEventWriter(object):
    """Plain text: ``timestamp host message`` lines, status lines, a heading."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr

    def heading(self, text: str) -> None:
        self.write('{0}:'.format(text))

    def event(self, timestamp: str, host: str, message: str) -> None:
        self.write('{0} {1} {2}'.format(timestamp, host, message))

    def status(self, line: str) -> None:
        self.write(line)

    def write(self, text: str) -> None:
        self.stream.write(text + '\n')
        self.stream.flush()


class ANSIEventWriter(TextEventWriter):
    """Text with colours: timestamps green, hosts blue, errors red, status cyan."""

    def heading(self, text: str) -> None:
        self.write(_ansi('44;37', '{0}:'.format(text)))

    def event(self, timestamp: str, host: str, message: str) -> None:
        colour = next((code for prefix, code in COLOURS if message.startswith(prefix)), '0')
        host = _ansi('34', '{0:<10s}'.format(host))
        self.write('{0} {1} {2}'.format(_ansi('32', timestamp), host, _ansi(colour, message)))

    def status(self, line: str) -> None:
        self.write(_ansi('36', line))


class JSONEventWriter(TextEventWriter):
    """One JSON array ``[timestamp, host, message]`` per event (Disco prints no status)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stdout)

    def heading(self, text: str) -> None:
        pass

    def event(self, timestamp: str, host: str, message: str) -> None:
        self.write(json.dumps([timestamp, host, message]))

    def status(self, line: str) -> None:
        pass


def _ansi(code: str, text: str) -> str:
    return '\x1b[{0}m{1}\x1b[0m'.format(code, text)


def is_terminal(stream: Any) -> bool:
    """True when ``stream`` is a terminal (where colours make sense)."""
    isatty = getattr(stream, 'isatty', None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def make_writer(format: Any, stream: IO[str] | None = None) -> TextEventWriter | None:
    """The writer for a ``DISCO_EVENTS``/``show`` value (None: stay quiet)."""
    if not format or format in ('0', 'False', 'false', 'off'):
        return None
    if format == 'json':
        return JSONEventWriter(stream)
    target = stream if stream is not None else sys.stderr
    if format == 'nocolor' or not is_terminal(target):
        return TextEventWriter(target)
    return ANSIEventWriter(target)


def current_stage(pipeline: list) -> list | None:
    """The row of the last stage that has tasks (else the first), as Disco shows."""
    rows = [row for row in pipeline if len(row) >= 6]
    for row in reversed(rows):
        if sum(int(n) for n in row[1:6]):
            return row
    return rows[0] if rows else None


def status_line(pipeline: list) -> str | None:
    """``Status: [stage] a pending, b waiting, c running, d done, e failed``."""
    row = current_stage(pipeline)
    if row is None:
        return None
    return ('Status: [{0}] {1} pending, {2} waiting, {3} running, {4} done, {5} failed'
            .format(*row[:6]))


class EventMonitor(object):
    """Prints new events of ``job`` (anything with ``name``, ``events(offset)`` and
    ``jobinfo()``) and its stage status; does nothing when ``format`` is falsy."""

    def __init__(self, job: Any, format: Any = None, poll_interval: float = 2,
                 stream: IO[str] | None = None) -> None:
        self.job = job
        self.writer = make_writer(format, stream)
        self.poll_interval = poll_interval
        self.offset = 0
        self.last_status: str | None = None
        self.last_poll = 0.0
        if self.writer is not None:
            self.writer.heading(str(getattr(job, 'name', job)))

    @property
    def isenabled(self) -> bool:
        return self.writer is not None

    def refresh(self, force: bool = False) -> None:
        """Print what is new (at most every half poll interval unless ``force``)."""
        if self.writer is None:
            return
        if not force and time.time() - self.last_poll < self.poll_interval / 2.0:
            return
        self.last_poll = time.time()
        try:
            self.show_events()
            self.show_status()
        except CommError as error:  # a busy master: the next refresh shows what was missed
            log.debug("event monitor: %s", error)

    def show_events(self) -> None:
        for offset, event in self.job.events(offset=self.offset):
            self.offset = offset
            timestamp, host, message = (list(event) + ['', '', ''])[:3]
            self.writer.event(timestamp, host, message)

    def show_status(self) -> None:
        line = status_line(self.job.jobinfo().get('pipeline', []))
        if line is not None and line != self.last_status:
            self.last_status = line
            self.writer.status(line)

    def cleanup(self) -> None:
        """Kept for Disco compatibility (nothing to restore)."""
