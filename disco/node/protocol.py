"""The worker protocol, node side (DISCO.md §2.1-2.3): one task's session state machine.

Layer 2 helper of `disco.node`, but pure: no I/O, no asyncio. `TaskSession.handle(name, body)`
takes one decoded frame from the worker and returns what the supervisor must do: send a reply
(possibly after a rate-limit delay), defer an INPUT reply until more inputs arrive, or stop the
worker (done / error / fatal). The wire texts (`Payload is not valid JSON ...`,
`Worker is behaving badly ...`) are Disco's (`worker_runtime.erl`, `worker_throttle.erl`).
"""
from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from disco.node import counters
from disco.protocol import cluster
from disco.sysutil import format_duration

log = logging.getLogger(__name__)

#: the worker-protocol version Disco 0.5.4 speaks
WORKER_VERSION = "1.1"

#: message names we accept as names at all; anything else in the name position is stray output
#: (a Python warning, a traceback) and is handled like a framing error, with last words
_NAME_RE = re.compile(r"[A-Za-z0-9_]{1,10}\Z")

KIND_DONE = "done"
KIND_ERROR = cluster.KIND_ERROR
KIND_FATAL = cluster.KIND_FATAL


@dataclass
class Reply:
    """Send `name payload` to the worker after `delay` seconds."""

    name: str
    payload: Any
    delay: float = 0.0


@dataclass
class Defer:
    """No reply yet: an INPUT request waits for more inputs (concurrent stages)."""

    request: Any


@dataclass
class Stop:
    """The session is over: `kind` is done, error or fatal; `message` explains an error."""

    kind: str
    message: str = ""
    #: a protocol violation the job's event log should show as a WARNING line
    warn: bool = False


@dataclass
class Output:
    """One OUTPUT the worker reported."""

    label: int
    location: str
    size: int

    @property
    def is_remote(self) -> bool:
        return "://" in self.location


@dataclass
class TaskInfo:
    """Everything the TASK reply and the session need to know about the task."""

    job: str
    task: int
    attempt: int
    stage: str
    grouping: str
    group: list
    host: str
    master: str
    disco_port: int
    put_port: int
    ddfs_data: str
    disco_data: str
    jobfile: str

    def task_reply(self) -> dict[str, Any]:
        """The TASK reply payload (DISCO.md §2.2)."""
        label, group_host = (list(self.group) + [0, ""])[:2]
        return {"taskid": self.task, "master": self.master, "disco_port": self.disco_port,
                "put_port": self.put_port, "ddfs_data": self.ddfs_data,
                "disco_data": self.disco_data, "stage": self.stage, "grouping": self.grouping,
                "group": [label, group_host or ""], "jobfile": self.jobfile,
                "jobname": self.job, "host": self.host}


class MessageThrottle:
    """Rate limit for MSG: a trailing one-second window of MSG arrival times.

    More than `slow` in the window delays the OK by 1/`slow` s (200 ms for Disco's 5);
    `maximum` or more is the worker "behaving badly" and kills the job.
    """

    def __init__(self, slow: int, maximum: int, clock: Any = time.monotonic) -> None:
        self.slow, self.maximum, self._clock = slow, maximum, clock
        self._times: deque[float] = deque()

    def admit(self) -> float | str:
        """Record one MSG; return the reply delay in seconds, or the fatal error text."""
        now = self._clock()
        times = self._times
        times.append(now)
        while times and now - times[0] > 1.0:
            times.popleft()
        count = len(times)
        if count >= self.maximum:
            return (f"Worker is behaving badly: Sent {count} events in a second, "
                    "ignoring replies.")
        if count > self.slow:
            return 1.0 / self.slow
        return 0.0


@dataclass
class _Input:
    label: Any
    replicas: list[list[Any]]                                  # [[rep_id, url], ...]
    failed_at: dict[int, float] = field(default_factory=dict)  # rep_id -> failure time

    def ordered_replicas(self) -> list[list[Any]]:
        """Replicas by last failure time, never-failed first (Disco's worker_inputs order)."""
        return sorted(self.replicas, key=lambda r: (self.failed_at.get(r[0], 0.0), r[0]))


class TaskSession:
    """Worker-protocol state of one task attempt; see the module docstring."""

    def __init__(self, info: TaskInfo, inputs: list, inputs_done: bool,
                 throttle: MessageThrottle) -> None:
        self.info = info
        self.throttle = throttle
        self.inputs: dict[int, _Input] = {}
        self.inputs_done = False
        self.worker_pid: int | None = None
        self.outputs: list[Output] = []
        self.failed_inputs: list[tuple[int, list[str]]] = []  # (input_id, urls): all replicas bad
        self.events: list[str] = []                            # event lines for the job log
        self.counters: dict[str, dict[str, int]] = {}          # COUNTERS (docs/counters.md)
        self.started = time.monotonic()
        self.add_inputs(inputs, inputs_done)

    # ---- inputs -------------------------------------------------------------------------

    def add_inputs(self, inputs: list, done: bool) -> None:
        """Add `[[input_id, status, label, [[rep_id, url], ...]], ...]` from the master."""
        for input_id, _status, label, replicas in inputs:
            self.inputs[int(input_id)] = _Input(label, [list(r) for r in replicas])
        self.inputs_done = self.inputs_done or bool(done)

    def answer_input(self, request: Any) -> Reply | None:
        """The INPUT reply for `request`, or None while it must wait for more inputs."""
        if request == "":
            ids = sorted(self.inputs)
        elif request[0] == "include":
            ids = [i for i in request[1] if i in self.inputs]
        else:
            excluded = set(request[1])
            ids = [i for i in sorted(self.inputs) if i not in excluded]
        if not ids and not self.inputs_done:
            return None
        flag = "done" if self.inputs_done else "more"
        entries = [[i, "ok", self.inputs[i].label, self.inputs[i].ordered_replicas()]
                   for i in ids]
        return Reply("INPUT", [flag, entries])

    # ---- dispatch -----------------------------------------------------------------------

    def handle(self, name: str, body: bytes) -> Reply | Defer | Stop:
        """Handle one complete frame from the worker."""
        try:
            payload = json.loads(body)
        except ValueError:
            return Stop(KIND_FATAL, f"Payload is not valid JSON: type '{name}', body:\n"
                                    f"{body.decode('utf-8', 'replace')}", warn=True)
        handler = _HANDLERS.get(name)
        if handler is None:
            return Stop(KIND_FATAL, f"Unknown message type '{name}', body:\n"
                                    f"{body.decode('utf-8', 'replace')}", warn=True)
        problem = _SCHEMAS[name](payload)
        if problem:
            return Stop(KIND_FATAL, f"Invalid message body (type '{name}'): {problem}", warn=True)
        return handler(self, payload)

    def adopt(self, pid: int) -> None:
        """A reused worker got this task's TASK payload with ``NEXT``: it sends no WORKER."""
        self.worker_pid = pid

    def _on_worker(self, payload: dict) -> Reply | Stop:
        self.worker_pid = payload["pid"]
        if payload["version"] != WORKER_VERSION:
            return Stop(KIND_FATAL, f"Invalid worker version: {payload['version']!r}", warn=True)
        return Reply("OK", "ok")

    def _on_task(self, _payload: Any) -> Reply:
        return Reply("TASK", self.info.task_reply())

    def _on_input(self, payload: Any) -> Reply | Defer:
        reply = self.answer_input(payload)
        return Defer(payload) if reply is None else reply

    def _on_input_err(self, payload: list) -> Reply:
        input_id, rep_ids = payload
        entry = self.inputs.get(input_id)
        if entry is None:
            return Reply("FAIL", "")
        now = time.time()
        for rep_id in rep_ids:
            entry.failed_at[rep_id] = now
        tried = set(rep_ids)
        remaining = [r for r in entry.ordered_replicas() if r[0] not in tried]
        if remaining:
            return Reply("RETRY", remaining)
        self.failed_inputs.append((input_id, [url for _rid, url in entry.replicas]))
        return Reply("FAIL", "")

    def _on_msg(self, payload: str) -> Reply | Stop:
        self.events.append(self.event_line("MSG", payload))
        verdict = self.throttle.admit()
        if isinstance(verdict, str):
            self.events.append(self.event_line("WARNING", verdict))
            return Stop(KIND_FATAL, verdict)
        return Reply("OK", "ok", delay=verdict)

    def _on_output(self, payload: list) -> Reply | Stop:
        label, location, size = payload
        if location.startswith("/"):
            return Stop(KIND_ERROR, f"invalid_output: OUTPUT location must be relative to the "
                                    f"job home or a URL, not an absolute path: {location}",
                        warn=True)
        if "://" not in location and ".." in location.split("/"):
            return Stop(KIND_ERROR, f"invalid_output: OUTPUT location leaves the job home: "
                                    f"{location}", warn=True)
        self.outputs.append(Output(label, location, size))
        return Reply("OK", "ok")

    def _on_counters(self, payload: dict) -> Reply | Stop:
        problem = counters.merge(self.counters, payload)
        if problem:
            return Stop(KIND_FATAL, problem, warn=True)
        return Reply("OK", "ok")

    def _on_ping(self, _payload: Any) -> Reply:
        return Reply("OK", "pong")

    def _on_done(self, _payload: Any) -> Stop:
        return Stop(KIND_DONE)

    def _on_error(self, payload: str) -> Stop:
        return Stop(KIND_ERROR, payload)

    def _on_fatal(self, payload: str) -> Stop:
        return Stop(KIND_FATAL, payload)

    # ---- events -------------------------------------------------------------------------

    def event_line(self, kind: str, text: str) -> str:
        """Disco's task event text: `KIND: [stage:taskid] text`."""
        return f"{kind}: [{self.info.stage}:{self.info.task}] {text}"

    def done_event(self) -> str:
        """`DONE: [stage:id] Task finished in H:MM:SS.mmm`."""
        elapsed = format_duration(time.monotonic() - self.started)
        return self.event_line("DONE", f"Task finished in {elapsed}")


def is_message_name(name: str) -> bool:
    """False for text that cannot be a message name (stray output on the protocol channel)."""
    return bool(_NAME_RE.match(name))


# ---- payload schemas (Disco's json_validator specs); each returns a problem text or "" ------

def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_list(value: Any) -> bool:
    return isinstance(value, list) and all(_is_int(v) for v in value)


def _check_string(payload: Any) -> str:
    return "" if isinstance(payload, str) else f"expected a string, got {payload!r}"[:500]


def _check_worker(payload: Any) -> str:
    if not isinstance(payload, dict):
        return "expected an object with 'version' and 'pid'"
    if not isinstance(payload.get("version"), str):
        return "'version' missing or not a string"
    if not _is_int(payload.get("pid")):
        return "'pid' missing or not an integer"
    return ""


def _check_input(payload: Any) -> str:
    if payload == "":
        return ""
    if (isinstance(payload, list) and len(payload) == 2 and payload[0] in ("include", "exclude")
            and _int_list(payload[1])):
        return ""
    return f'expected "", ["include", [ids]] or ["exclude", [ids]], got {payload!r}'[:500]


def _check_input_err(payload: Any) -> str:
    if isinstance(payload, list) and len(payload) == 2 and _is_int(payload[0]) \
            and _int_list(payload[1]):
        return ""
    return f"expected [input_id, [replica_id, ...]], got {payload!r}"[:500]


def _check_output(payload: Any) -> str:
    if isinstance(payload, list) and len(payload) == 3 and _is_int(payload[0]) \
            and isinstance(payload[1], str) and _is_int(payload[2]):
        return ""
    return f"expected [label, location, size], got {payload!r}"[:500]


def _check_anything(_payload: Any) -> str:
    return ""


_SCHEMAS = {
    "WORKER": _check_worker, "TASK": _check_string, "INPUT": _check_input,
    "INPUT_ERR": _check_input_err, "MSG": _check_string, "OUTPUT": _check_output,
    "PING": _check_anything, "DONE": _check_string, "ERROR": _check_string,
    "FATAL": _check_string, "COUNTERS": counters.check,
}

_HANDLERS = {
    "WORKER": TaskSession._on_worker, "TASK": TaskSession._on_task,
    "INPUT": TaskSession._on_input, "INPUT_ERR": TaskSession._on_input_err,
    "MSG": TaskSession._on_msg, "OUTPUT": TaskSession._on_output, "PING": TaskSession._on_ping,
    "DONE": TaskSession._on_done, "ERROR": TaskSession._on_error,
    "FATAL": TaskSession._on_fatal, "COUNTERS": TaskSession._on_counters,
}
