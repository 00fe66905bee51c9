"""The master <-> node websocket link: message names, builders and validation.

Layer 0 (stdlib only). Both `disco.master` and `disco.node` import this module; neither imports
the other. Every websocket message is one JSON object with an ``"op"`` field; the fields of each
op are listed in ``docs/architecture.md`` ("The master <-> node link") and in `FIELDS` below.
Tasks are identified by ``(job, task, attempt)``.
"""
from __future__ import annotations

import json
from typing import Any

from disco.error import ProtocolError

#: websocket path on the master that nodes connect to
WS_PATH = "/internal/node/ws"

# node -> master
HELLO = "hello"
STATUS = "status"
EVENT = "event"
TASK_DONE = "task_done"
TASK_FAILED = "task_failed"
INPUT_FAILED = "input_failed"
#: several node -> master messages in one frame, in the order they were sent (the node
#: batches only when the master's welcome says ``"batch": true``)
BATCH = "batch"

# master -> node
WELCOME = "welcome"
REJECT = "reject"
RUN_TASK = "run_task"
MORE_INPUTS = "more_inputs"
KILL_TASK = "kill_task"
KILL_JOB = "kill_job"
PURGE_JOB = "purge_job"
#: the master stored these task reports; the node stops keeping them for a re-send
STORED = "stored"
#: the link's mutual HMAC authentication when the cluster has a secret (docs/security.md):
#: master -> node `challenge` after the hello, node -> master `auth` before the welcome
CHALLENGE = "challenge"
AUTH = "auth"

#: task_failed kinds: ``error`` is retried on another node, ``fatal`` kills the job
KIND_ERROR = "error"
KIND_FATAL = "fatal"

#: required fields (and their JSON types) per op
FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    HELLO: {"host": str, "pid": int, "version": str},
    STATUS: {"running": list},
    EVENT: {"job": str, "message": str},
    TASK_DONE: {"job": str, "task": int, "attempt": int, "results": list},
    TASK_FAILED: {"job": str, "task": int, "attempt": int, "kind": str, "message": str},
    INPUT_FAILED: {"job": str, "task": int, "attempt": int, "input": int, "urls": list},
    BATCH: {"messages": list},
    WELCOME: {"max_workers": int},
    REJECT: {"reason": str},
    RUN_TASK: {"job": str, "task": int, "attempt": int, "stage": str, "grouping": str,
               "group": list, "worker": str, "jobpack": str, "inputs": list,
               "inputs_done": bool},
    MORE_INPUTS: {"job": str, "task": int, "attempt": int, "inputs": list, "done": bool},
    KILL_TASK: {"job": str, "task": int, "attempt": int},
    KILL_JOB: {"job": str},
    PURGE_JOB: {"job": str},
    STORED: {"tasks": list},
    CHALLENGE: {"nonce": str, "mac": str},
    AUTH: {"mac": str},
}


class LinkProtocolError(ProtocolError, ValueError):
    """A websocket message that is not valid JSON or does not match its op's fields."""


def encode(message: dict[str, Any]) -> str:
    """Serialise one message (already built by a builder below) to websocket text."""
    return json.dumps(message, separators=(",", ":"))


def decode(text: str | bytes) -> dict[str, Any]:
    """Parse and validate one websocket message; raises `LinkProtocolError` with the reason."""
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LinkProtocolError(f"link message is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise LinkProtocolError("link message must be a JSON object")
    validate(message)
    return message


def validate(message: dict[str, Any]) -> None:
    """Check that `message` has a known op and every required field with the right type."""
    op = message.get("op")
    fields = FIELDS.get(op) if isinstance(op, str) else None
    if fields is None:
        raise LinkProtocolError(f"unknown link op {op!r}")
    for name, kind in fields.items():
        value = message.get(name)
        # bool is an int subclass in Python; an int field must not accept true/false
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise LinkProtocolError(f"link op {op!r}: field {name!r} missing or not {kind}")
    if op == TASK_FAILED and message["kind"] not in (KIND_ERROR, KIND_FATAL):
        raise LinkProtocolError(f"task_failed kind must be error or fatal, not {message['kind']!r}")


def unbatch(message: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The messages a (decoded) frame carries: itself, or a batch's valid items in order;
    and the problems of the items that are not valid messages (a batch inside a batch
    is not)."""
    if message["op"] != BATCH:
        return [message], []
    items, problems = [], []
    for item in message["messages"]:
        try:
            if not isinstance(item, dict) or item.get("op") == BATCH:
                raise LinkProtocolError("a batch item must be a message other than a batch")
            validate(item)
        except LinkProtocolError as exc:
            problems.append(str(exc))
            continue
        items.append(item)
    return items, problems


# ---- builders: node -> master -------------------------------------------------------------

def hello(host: str, pid: int, version: str, disk_free: int = 0, disk_used: int = 0,
          reports: list | None = None, nonce: str | None = None) -> dict:
    """`reports`: the ``task_done`` messages the master has not acknowledged as stored;
    `nonce`: what the master must sign to prove it knows the cluster's secret."""
    message = {"op": HELLO, "host": host, "pid": pid, "version": version,
               "disk_free": disk_free, "disk_used": disk_used}
    if nonce:
        message["nonce"] = nonce
    if reports:
        message["reports"] = reports
    return message


def status(running: list, disk_free: int = 0, disk_used: int = 0) -> dict:
    return {"op": STATUS, "disk_free": disk_free, "disk_used": disk_used, "running": running}


def event(job: str, message: str) -> dict:
    return {"op": EVENT, "job": job, "message": message}


def task_done(job: str, task: int, attempt: int, results: list,
              counters: dict | None = None) -> dict:
    """`counters`: the attempt's ``{group: {name: value}}`` (docs/counters.md), left out
    when the worker reported none."""
    message = {"op": TASK_DONE, "job": job, "task": task, "attempt": attempt,
               "results": results}
    if counters:
        message["counters"] = counters
    return message


def task_failed(job: str, task: int, attempt: int, kind: str, message: str) -> dict:
    return {"op": TASK_FAILED, "job": job, "task": task, "attempt": attempt, "kind": kind,
            "message": message}


def input_failed(job: str, task: int, attempt: int, input_id: int, urls: list) -> dict:
    return {"op": INPUT_FAILED, "job": job, "task": task, "attempt": attempt, "input": input_id,
            "urls": urls}


def batch(messages: list[dict]) -> dict:
    """One frame for several messages (a task's events and its report travel together)."""
    return {"op": BATCH, "messages": messages}


# ---- builders: master -> node -------------------------------------------------------------

def welcome(max_workers: int, takes_batches: bool = True) -> dict:
    """`takes_batches`: this master reads `batch` frames (a node sends them only then)."""
    return {"op": WELCOME, "max_workers": max_workers, "batch": takes_batches}


def challenge(nonce: str, mac: str) -> dict:
    """`mac` signs the node's hello nonce; the node signs `nonce` in its `auth` reply."""
    return {"op": CHALLENGE, "nonce": nonce, "mac": mac}


def auth(mac: str) -> dict:
    return {"op": AUTH, "mac": mac}


def reject(reason: str) -> dict:
    return {"op": REJECT, "reason": reason}


def run_task(job: str, task: int, attempt: int, stage: str, grouping: str, group: list,
             worker: str, jobpack: str, inputs: list, inputs_done: bool) -> dict:
    return {"op": RUN_TASK, "job": job, "task": task, "attempt": attempt, "stage": stage,
            "grouping": grouping, "group": group, "worker": worker, "jobpack": jobpack,
            "inputs": inputs, "inputs_done": inputs_done}


def more_inputs(job: str, task: int, attempt: int, inputs: list, done: bool) -> dict:
    return {"op": MORE_INPUTS, "job": job, "task": task, "attempt": attempt, "inputs": inputs,
            "done": done}


def kill_task(job: str, task: int, attempt: int) -> dict:
    return {"op": KILL_TASK, "job": job, "task": task, "attempt": attempt}


def kill_job(job: str) -> dict:
    return {"op": KILL_JOB, "job": job}


def purge_job(job: str) -> dict:
    return {"op": PURGE_JOB, "job": job}


def stored(tasks: list) -> dict:
    """`tasks`: ``[[job, task, attempt], ...]`` whose ``task_done`` reports are stored."""
    return {"op": STORED, "tasks": tasks}
