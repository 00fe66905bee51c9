"""Actions: what the pure job coordinator asks the I/O layer to do.

Layer 1 (no I/O). `disco.master.jobs.JobCoordinator` methods return lists of these; the master
app carries them out (websocket messages to nodes, scheduler queue updates, event-log lines,
SQLite writes). Keeping them as plain dataclasses lets unit tests assert exact action lists.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    """Append one line to the job's event log; `host` is "master" or a node's host."""
    host: str
    message: str


@dataclass(frozen=True)
class Enqueue:
    """Queue a task with the scheduler (`hosts`: preferred hosts, best first)."""
    task: int
    hosts: tuple[str, ...] = ()
    avoid: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Dequeue:
    """Remove a queued (not yet running) task from the scheduler."""
    task: int


@dataclass(frozen=True)
class Release:
    """A task stopped running on `host`: free its slot."""
    task: int
    host: str


@dataclass(frozen=True)
class RunTask:
    """Send ``run_task`` (a `disco.protocol.cluster.run_task` message) to `host`."""
    host: str
    message: dict


@dataclass(frozen=True)
class SendInputs:
    """Send ``more_inputs`` to the node running a task of a concurrent stage."""
    host: str
    task: int
    attempt: int
    inputs: list
    done: bool


@dataclass(frozen=True)
class KillTask:
    host: str
    task: int
    attempt: int


@dataclass(frozen=True)
class StageDone:
    """A stage finished; `results` are its outputs' URL replica lists (get_stageresults)."""
    stage: str
    results: list


@dataclass(frozen=True)
class JobFinished:
    """The job ended: status ``ready`` (with `results`) or ``dead`` (with `reason`)."""
    status: str
    results: list = field(default_factory=list)
    reason: str = ""
