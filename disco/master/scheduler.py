"""Pure task scheduler: which queued task runs in which free node slot.

Layer 1 (no I/O). The master app feeds it `Enqueue`/`Dequeue`/`Release` actions of the job
coordinators and the cluster's hosts (``max_workers`` each), then calls `schedule`, which returns
``[(job, task, host)]`` assignments. Policy (``DISCO_SCHEDULER``):

* ``fair`` (default): Disco's deficit share. Every job with work (queued or running tasks)
  is entitled to an equal share ``S = total slots / jobs``; its priority is its current
  deficit ``S - running`` plus ``alpha`` (``DISCO_SCHEDULER_ALPHA``) times its accumulated
  deficit (task-seconds below its share, decayed by ``(1 - alpha)`` per second, updated by
  `update_shares` about once a second; new jobs start at 0). Each free slot goes to the job
  with the highest priority, ties to the older job. A job long starved of its share thus
  catches up; with equal histories the slots are split evenly;
* ``fifo``: the oldest job with a runnable task first.

Per job: ``scheduler.max_cores`` caps its running tasks; ``force_local`` runs a task only on a
host holding its input, ``force_remote`` never on one; a task never runs on a host in its
``avoid`` set (hosts where it already failed). Data locality: a first pass offers every free slot
only tasks local to it, a second pass fills the remaining slots with any runnable task.

Cost: queues are insertion-ordered dicts per job and per host, so enqueue, dequeue and each
assignment are O(replicas); picking a task scans at most `SCAN_LIMIT` entries, so a round costs
O(free slots x jobs), independent of how many tasks are queued.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

#: entries of a queue inspected per pick (skipping tasks barred from the offered host)
SCAN_LIMIT = 64


@dataclass
class _Placement:
    hosts: tuple[str, ...]
    avoid: frozenset[str]


@dataclass
class JobQueue:
    """One job's queued tasks, indexed by preferred host."""
    name: str
    order: int
    max_cores: int = 2 ** 31
    force_local: bool = False
    force_remote: bool = False
    running: int = 0
    history: float = 0.0                  # accumulated (decayed) deficit, task-seconds
    tasks: dict[int, _Placement] = field(default_factory=dict)      # insertion order = FIFO
    by_host: dict[str, dict[int, None]] = field(default_factory=dict)

    def add(self, task: int, hosts: tuple[str, ...], avoid: frozenset[str]) -> None:
        self.remove(task)
        self.tasks[task] = _Placement(tuple(hosts), frozenset(avoid))
        for host in hosts:
            self.by_host.setdefault(host, {})[task] = None

    def remove(self, task: int) -> bool:
        placement = self.tasks.pop(task, None)
        if placement is None:
            return False
        for host in placement.hosts:
            queue = self.by_host.get(host)
            if queue is not None:
                queue.pop(task, None)
                if not queue:
                    del self.by_host[host]
        return True

    def allowed(self, task: int, host: str, live_hosts: set[str]) -> bool:
        placement = self.tasks[task]
        if host in placement.avoid:
            return False
        if self.force_remote and host in placement.hosts:
            return False
        if self.force_local and placement.hosts and any(h in live_hosts for h in placement.hosts):
            return host in placement.hosts
        return True

    def pick(self, host: str, local_only: bool, live_hosts: set[str],
             gate: Callable[[str, int], bool]) -> int | None:
        source = self.by_host.get(host, {}) if local_only else self.tasks
        for count, task in enumerate(source):
            if count >= SCAN_LIMIT:
                break
            if self.allowed(task, host, live_hosts) and gate(self.name, task):
                return task
        return None


class Scheduler:
    """Slots per host, job queues and the fair/fifo policy."""

    def __init__(self, policy: str = "fair", alpha: float = 0.001) -> None:
        if policy not in ("fair", "fifo"):
            raise ValueError(f"DISCO_SCHEDULER must be 'fair' or 'fifo', not {policy!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"DISCO_SCHEDULER_ALPHA must be within [0, 1], not {alpha!r}")
        self.policy = policy
        self.alpha = alpha
        self._last_update: float | None = None
        self.jobs: dict[str, JobQueue] = {}
        self.slots: dict[str, int] = {}           # host -> max_workers (usable hosts only)
        self.busy: dict[str, int] = {}            # host -> running tasks
        self._order = 0

    # ---- cluster and jobs --------------------------------------------------------------

    def set_hosts(self, slots: dict[str, int]) -> None:
        """The usable hosts (connected, not blacklisted) and their max_workers."""
        self.slots = dict(slots)

    def add_job(self, name: str, max_cores: int = 2 ** 31, force_local: bool = False,
                force_remote: bool = False) -> None:
        self._order += 1
        self.jobs[name] = JobQueue(name, self._order, max(1, max_cores), force_local, force_remote)

    def remove_job(self, name: str) -> None:
        self.jobs.pop(name, None)

    def enqueue(self, job: str, task: int, hosts: tuple[str, ...] = (),
                avoid: frozenset[str] = frozenset()) -> None:
        self.jobs[job].add(task, hosts, avoid)

    def dequeue(self, job: str, task: int) -> None:
        queue = self.jobs.get(job)
        if queue is not None:
            queue.remove(task)

    def release(self, job: str, host: str) -> None:
        """A task of `job` stopped running on `host`."""
        self.busy[host] = max(0, self.busy.get(host, 0) - 1)
        queue = self.jobs.get(job)
        if queue is not None:
            queue.running = max(0, queue.running - 1)

    def share(self) -> float:
        """Each job's equal share of the usable slots (jobs with queued or running tasks)."""
        active = sum(1 for q in self.jobs.values() if q.tasks or q.running)
        return sum(self.slots.values()) / active if active else 0.0

    def update_shares(self, now: float) -> None:
        """Accumulate each job's deficit since the last update (call about once a second)."""
        if self._last_update is None:
            self._last_update = now
            return
        elapsed = now - self._last_update
        if elapsed <= 0:
            return
        self._last_update = now
        share, decay = self.share(), (1.0 - self.alpha) ** elapsed
        for queue in self.jobs.values():
            deficit = share - queue.running if (queue.tasks or queue.running) else 0.0
            queue.history = queue.history * decay + deficit * elapsed

    def priority(self, job: str, share: float | None = None) -> float:
        """The fair policy's priority of a job (higher runs first)."""
        queue = self.jobs[job]
        share = self.share() if share is None else share
        return share - queue.running + self.alpha * queue.history

    def queued(self, job: str) -> int:
        queue = self.jobs.get(job)
        return len(queue.tasks) if queue else 0

    # ---- decisions ---------------------------------------------------------------------

    def has_free_slot(self) -> bool:
        busy = self.busy
        return any(n > busy.get(h, 0) for h, n in self.slots.items())

    def free_slots(self) -> dict[str, int]:
        return {h: n - self.busy.get(h, 0) for h, n in self.slots.items()
                if n - self.busy.get(h, 0) > 0}

    def schedule(
        self, gate: Callable[[str, int], bool] | None = None
    ) -> list[tuple[str, int, str]]:
        """Fill free slots: ``[(job, task, host)]``; `gate(job, task)` may veto a task."""
        free = self.free_slots()
        if not free:
            return []
        gate = gate or (lambda _job, _task: True)
        live = set(self.slots)
        assigned: list[tuple[str, int, str]] = []
        candidates = None      # the jobs in priority order; they change only when a task starts
        for local_only in (True, False):
            for host in sorted(free, key=lambda h: (self.busy.get(h, 0), h)):
                while free[host] > 0:
                    if candidates is None:
                        candidates = self._candidates()
                    pick = self._pick_for(host, local_only, live, gate, candidates)
                    if pick is None:
                        break
                    assigned.append(self._take(pick[0], pick[1], host))
                    candidates = None
                    free[host] -= 1
        return assigned

    def _candidates(self) -> list[JobQueue]:
        jobs = [q for q in self.jobs.values() if q.tasks and q.running < q.max_cores]
        if self.policy == "fifo":
            return sorted(jobs, key=lambda q: q.order)
        share = self.share()
        return sorted(jobs, key=lambda q: (-self.priority(q.name, share), q.order))

    def _pick_for(self, host: str, local_only: bool, live: set[str],
                  gate: Callable[[str, int], bool],
                  candidates: list[JobQueue] | None = None) -> tuple[str, int] | None:
        for queue in self._candidates() if candidates is None else candidates:
            task = queue.pick(host, local_only, live, gate)
            if task is not None:
                return queue.name, task
        return None

    def _take(self, job: str, task: int, host: str) -> tuple[str, int, str]:
        queue = self.jobs[job]
        queue.remove(task)
        queue.running += 1
        self.busy[host] = self.busy.get(host, 0) + 1
        return job, task, host
