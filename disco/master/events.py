"""Per-job event logs in Disco's format: ``DISCO_MASTER_ROOT/<hh>/<job>/events``.

Each line is a JSON array ``["YYYY/MM/DD HH:MM:SS","<host>","<message>"]`` (no spaces,
non-ASCII escaped, as Disco's mochijson2 writes it). Lines are buffered and appended every
``DISCO_EVENTS_FLUSH_INTERVAL`` seconds (the master's flush loop calls
`EventLogs.flush_all_async`), or at once when 1000 lines are pending, and before every read so
readers see the latest events. One thread does the file I/O, off the master's event loop.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from json.encoder import encode_basestring_ascii

from disco.urls import hexhash

log = logging.getLogger(__name__)

#: pending lines that force a flush (Disco's EVENT_BUFFER_SIZE)
BUFFER_LINES = 1000
_FILTER_DROP = re.compile(r"[^a-zA-Z0-9:\-_!@ ]")


def format_timestamp(now: float) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now))


#: (second, its quoted timestamp): event lines come in bursts within one second
_last_stamp: tuple[int, str] = (-1, "")


def event_line(now: float, host: str, message: str) -> str:
    """One event-log line; the same text as ``json.dumps([stamp, host, message])`` compacted.

    Several lines per task reach the master, so the line is assembled from the (C) string
    quoting that json.dumps uses, with the timestamp formatted once per second.
    """
    global _last_stamp
    if type(host) is not str or type(message) is not str:  # exact str only
        return json.dumps([format_timestamp(now), host, message], separators=(",", ":")) + "\n"
    second = int(now // 1)
    if second != _last_stamp[0]:
        _last_stamp = (second, encode_basestring_ascii(format_timestamp(now)))
    return (
        f"[{_last_stamp[1]},{encode_basestring_ascii(host)},{encode_basestring_ascii(message)}]\n"
    )


class EventLogs:
    """Event buffers of all jobs, and the job directories under the master root.

    The files are written and read by one thread (`_disk`), never on the event loop: its queue
    keeps every job's writes in order, and a read queued after a flush sees what it wrote. The
    `*_async` methods are the loop's; the plain ones wait for the thread (shutdown, tests).
    """

    def __init__(self, master_root: str) -> None:
        self.master_root = master_root
        self._pending: dict[str, list[str]] = {}
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-logs")

    def job_dir(self, job: str) -> str:
        return os.path.join(self.master_root, hexhash(job), job)

    def path(self, job: str) -> str:
        return os.path.join(self.job_dir(job), "events")

    def add(self, job: str, host: str, message: str, now: float | None = None) -> None:
        lines = self._pending.setdefault(job, [])
        lines.append(event_line(time.time() if now is None else now, host, message))
        if len(lines) >= BUFFER_LINES:
            self._queue_write(job)  # in the background, in order with later writes

    def _queue_write(self, job: str) -> Future | None:
        lines = self._pending.pop(job, None)
        return self._disk.submit(self._write, job, lines) if lines else None

    def _write(self, job: str, lines: list[str]) -> None:
        try:
            os.makedirs(self.job_dir(job), exist_ok=True)
            with open(self.path(job), "a", encoding="ascii") as f:
                f.write("".join(lines))
        except OSError as exc:
            log.error("job %s: cannot write %d events to %s: %s", job, len(lines),
                      self.path(job), exc)

    def flush_soon(self, job: str) -> None:
        """Queue the job's pending lines for the file (later reads see them)."""
        self._queue_write(job)

    def flush(self, job: str) -> None:
        """Write the job's pending lines and wait until they are in the file."""
        written = self._queue_write(job)
        if written is not None:
            written.result()

    async def flush_async(self, job: str) -> None:
        written = self._queue_write(job)
        if written is not None:
            await asyncio.wrap_future(written)

    def flush_all(self) -> None:
        for job in list(self._pending):
            self.flush(job)

    async def flush_all_async(self) -> None:
        written = [self._queue_write(job) for job in list(self._pending)]
        await asyncio.gather(*(asyncio.wrap_future(w) for w in written if w is not None))

    def read(self, job: str, num: int, grep: str = "") -> list:
        """The newest `num` events (newest first), optionally only lines matching `grep`."""
        self.flush(job)
        return self._disk.submit(self._read, job, num, grep).result()

    async def read_async(self, job: str, num: int, grep: str = "") -> list:
        self._queue_write(job)  # queued before the read: the read sees these lines
        return await asyncio.wrap_future(self._disk.submit(self._read, job, num, grep))

    def _read(self, job: str, num: int, grep: str) -> list:
        try:
            with open(self.path(job), encoding="ascii", errors="replace") as f:
                lines = f.readlines()
        except FileNotFoundError:
            return []
        needle = _FILTER_DROP.sub("", grep).lower()
        if needle:
            lines = [line for line in lines if needle in line.lower()]
        events = []
        for line in reversed(lines[-num:] if num > 0 else []):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def remove(self, job: str) -> None:
        """Delete the job's directory (events and job pack)."""
        self._pending.pop(job, None)
        # behind the job's queued writes, so none of them makes the directory again
        self._disk.submit(shutil.rmtree, self.job_dir(job), ignore_errors=True).result()

    def close(self) -> None:
        """Write every pending line and stop the writer thread."""
        self.flush_all()
        self._disk.shutdown(wait=True)
