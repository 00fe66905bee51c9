"""Pure job coordinator: one job's pipeline of stages and tasks as a state machine.

Layer 1 (no I/O, no clock: every method takes ``now``; randomness from an injected
`random.Random`). Each method returns a list of `disco.master.actions` for the master app to
carry out. Behaviour follows Disco's ``job_coordinator.erl``, plus what Disco lacks:

* stages run in order; the outputs of a finished stage are grouped (`disco.master.grouping`)
  into the tasks of the next stage. A ``concurrent`` stage gets its tasks as soon as outputs of
  the previous stage arrive (inputs streamed with `SendInputs`), throttled so that
  ``2 * running(next) < running(prev)`` until the previous stage finishes;
* a task error is retried after ``min(C*unit, max) + random(0..random)`` seconds, never on a host
  where it already failed (reset once every cluster host failed), and kills the job after
  ``max_failure_rate`` failures; a fatal error kills the job at once;
* **speculative execution** (`SpeculationPolicy`): once ``quantile`` of a stage's tasks are done,
  a task running longer than ``multiplier`` x the stage's median task time (and at least
  ``min_runtime``) gets a second attempt on another host; the first attempt to finish wins, the
  other is killed and its outputs are never referenced;
* **lineage re-planning** (`node_lost`, `input_failed`): when done tasks' outputs are lost, only
  the tasks whose outputs are lost *and still needed* run again (Spark's rule: needed by a task
  that has still to run, or by the job's results); tasks that read those outputs and have not
  finished are ``blocked`` until their producers are done again, then get the new outputs in
  place of the lost ones. Done tasks whose outputs survive are kept;
* after a master restart (`restore` + `resume`) done tasks are kept, and an attempt that was
  running may still report ``task_done`` (the node re-sends reports the old master had not
  stored): it is accepted while the task has not finished otherwise.

Task states: ``waiting`` (backing off after a failure), ``queued`` (with the scheduler),
``running`` (one attempt, or two while speculating), ``blocked`` (waiting for producers that
re-run), ``done``, ``dropped`` (discarded by a kill).
"""
from __future__ import annotations

import bisect
import dataclasses
import heapq
import random
from dataclasses import dataclass, field

from disco.master import actions as action
from disco.master.grouping import (
    DirOutput,
    OutputRef,
    group_outputs,
    input_record,
    locality,
    output_from_json,
    output_from_result,
    output_to_json,
    output_urls,
    ref_from_json,
    ref_to_json,
)
from disco.protocol import cluster
from disco.sysutil import format_duration

LOST_NODE_MESSAGE = "Connection lost to the node (network busy?)"
#: seconds between two looks for stragglers (a look scans the running stages' tasks)
SPECULATION_PERIOD = 1.0


@dataclass
class RetryPolicy:
    """Disco's retry back-off (seconds) and failure limit."""
    unit: float = 1.0
    maximum: float = 60.0
    randomize: float = 30.0
    max_failure_rate: int = 100


@dataclass
class SpeculationPolicy:
    """When a slow task gets a second, speculative attempt (``DISCO_SPECULATIVE*`` settings)."""
    enabled: bool = True
    quantile: float = 0.75      # fraction of the stage's tasks done before copies are made
    multiplier: float = 1.5     # slow = running longer than this x the stage's median
    min_runtime: float = 10.0   # ... and longer than this many seconds


@dataclass
class JobOptions:
    worker: str
    jobpack_url: str
    max_cores: int = 2 ** 31
    force_local: bool = False
    force_remote: bool = False


@dataclass
class Task:
    id: int
    stage: str
    group: tuple
    inputs: list[OutputRef]
    inputs_done: bool
    status: str = "queued"
    attempt: int = 0                    # the latest attempt's number
    host: str | None = None             # the latest attempt's host
    sent: int = 0                       # inputs sent to the current run
    failures: int = 0
    failed_hosts: set[str] = field(default_factory=set)
    outputs: list = field(default_factory=list)
    start: float | None = None
    end: float | None = None
    retry_at: float | None = None
    #: running attempts: attempt -> (host, start)
    live: dict[int, tuple[str, float]] = field(default_factory=dict)
    #: attempts that ran when the master stopped: attempt -> host (they may still report done)
    orphans: dict[int, str] = field(default_factory=dict)
    speculative: bool = False           # a second attempt is queued with the scheduler
    #: producers re-running after a loss: producer id -> indices of their outputs read here
    waiting_on: dict[int, list[int]] = field(default_factory=dict)
    fed: bool = False                   # outputs were streamed into a concurrent next stage
    prior_outputs: int = 0              # outputs of the run whose outputs were lost
    #: the counters of the attempt whose outputs are used ({group: {name: value}}, docs/counters.md)
    counters: dict = field(default_factory=dict)


@dataclass
class Stage:
    index: int
    name: str
    grouping: str
    concurrent: bool
    tasks: list[int] = field(default_factory=list)
    group_map: dict = field(default_factory=dict)
    finished: bool = False
    start: float | None = None
    running: int = 0                    # running attempts
    failures: int = 0
    done_scan: int = 0     # stage.tasks[:done_scan] were done when last looked at (a hint)
    durations: list[float] = field(default_factory=list)   # sorted run times of done tasks


class JobCoordinator:
    """State and decisions of one job; see the module docstring."""

    def __init__(self, name: str, pipeline: list, inputs: list, options: JobOptions,
                 retry: RetryPolicy | None = None, rng: random.Random | None = None,
                 hosts: set[str] | None = None,
                 speculation: SpeculationPolicy | None = None) -> None:
        self.name = name
        self.stages = [Stage(i, s, g, bool(c)) for i, (s, g, c) in enumerate(pipeline)]
        self.inputs = [OutputRef(None, i, out) for i, out in enumerate(inputs)]
        self.options = options
        self.retry = retry or RetryPolicy()
        self.speculation = speculation or SpeculationPolicy(enabled=False)
        self.rng = rng or random.Random()
        self.hosts: set[str] = set(hosts or ())
        self.tasks: dict[int, Task] = {}
        self.status = "active"
        self.start_time: float | None = None
        self.results: list = []
        self.stage_results: dict[str, list] = {}
        #: changes whenever a task's counters do (the counters summary is cached by it)
        self.counters_version = 0
        self.dirty: set[int] = set()        # tasks changed since the store last saved them
        self._timers: list[tuple[float, int, int]] = []
        self._running: set[int] = set()     # tasks with a running attempt
        self._next_id = 0
        self._next_speculation = 0.0

    # ---- entry points ------------------------------------------------------------------

    def start(self, now: float) -> list:
        self.start_time = now
        acts: list = [action.Event("master", "New job initialized!"),
                      action.Event("master", f'Created job "{self.name}"')]
        if not self.stages:
            return acts + self._finish(now)
        return acts + self._plan(self.stages[0], self.inputs, now)

    def assign(self, task_id: int, host: str, now: float) -> list:
        """The scheduler gave a queued task a slot on `host`: start a new attempt there."""
        task = self.tasks[task_id]
        if self.status != "active":
            return [action.Release(task_id, host)]
        speculative = task.status == "running" and task.speculative
        if speculative:
            task.speculative = False
            if any(h == host for h, _start in task.live.values()):
                return [action.Release(task_id, host)]
        elif task.status != "queued":
            return [action.Release(task_id, host)]
        stage = self._stage(task.stage)
        if not speculative:
            task.status, task.start, task.end = "running", now, None
        task.host = host
        task.attempt += 1
        task.live[task.attempt] = (host, now)
        stage.running += 1
        self._running.add(task_id)
        self.dirty.add(task_id)
        records = self._records(task, 0)
        task.sent = len(task.inputs)
        message = cluster.run_task(self.name, task.id, task.attempt, stage.name, stage.grouping,
                                   [task.group[0], task.group[1] or ""], self.options.worker,
                                   self.options.jobpack_url, records, task.inputs_done)
        what = "speculative attempt of " if speculative else ""
        return [action.Event("master", f"{what}{stage.name}:{task.id} assigned to {host}"),
                action.RunTask(host, message)]

    def may_start(self, task_id: int) -> bool:
        """Concurrent-stage throttle: may this queued task take a slot now?"""
        stage = self._stage(self.tasks[task_id].stage)
        if not stage.concurrent or stage.index == 0:
            return True
        previous = self.stages[stage.index - 1]
        return previous.finished or 2 * stage.running < previous.running

    def task_done(self, task_id: int, attempt: int, host: str, results: list,
                  now: float, counters: dict | None = None) -> list:
        task = self.tasks.get(task_id)
        if task is None or self.status != "active":
            return []
        live = task.live.get(attempt)
        if live is not None and live[0] == host:
            acts = self._end_attempt(task, attempt, now)
        elif task.orphans.get(attempt) == host and task.status in ("queued", "waiting",
                                                                     "running"):
            acts = [action.Event("master", f"SYS: [{task.stage}:{task.id}] attempt {attempt} on "
                                      f"{host} finished before the master restarted")]
        else:
            return []
        stage = self._stage(task.stage)
        acts += self._abandon(task, now, f"attempt {attempt} on {host} finished first")
        if live is not None:
            bisect.insort(stage.durations, now - live[1])
        task.status, task.end, task.orphans = "done", now, {}
        task.outputs = [output_from_result(url, labels) for url, labels in results]
        task.counters = counters or {}  # this attempt's: a retry or a copy never adds up
        self.counters_version += 1
        task.failed_hosts.discard(host)
        self.dirty.add(task.id)
        acts.append(action.Event("master", f"SYS: [{stage.name}:{task.id}] Received results from "
                                      f"{host}"))
        acts += self._unblock(task, stage, now)
        if not task.fed:
            acts += self._feed_concurrent(stage, task, now)
        return acts + self._maybe_finish_stage(stage, now)

    def task_failed(self, task_id: int, attempt: int, host: str, kind: str, message: str,
                    now: float) -> list:
        task = self._current(task_id, attempt, host)
        if task is None:
            return []
        stage = self._stage(task.stage)
        acts = self._end_attempt(task, attempt, now)
        stage.failures += 1
        if kind == cluster.KIND_FATAL:
            task.status = "dropped"
            acts.append(action.Event(host, f"FATAL: [{stage.name}:{task.id}] {message}"))
            reason = (f"Task {stage.name}:{task.id} failed fatally on {host}: {message}")
            return acts + self.kill(reason, now, "ERROR: Job failed: " + reason)
        acts.append(action.Event(host, f"WARNING: [{stage.name}:{task.id}] {message}"))
        if task.live:  # the other (speculative) attempt carries on
            task.failures += 1
            task.failed_hosts.add(host)
            return acts
        if task.speculative:
            task.speculative = False
            acts.append(action.Dequeue(task.id))
        return acts + self._retry(task, stage, host, now, message)

    def input_failed(self, task_id: int, attempt: int, host: str, input_id: int,
                     now: float) -> list:
        """Every replica of one input failed: re-run the task that produced it, if any.

        The task itself is blocked until that producer is done again; its worker's own
        ERROR report for this attempt is then ignored.
        """
        task = self._current(task_id, attempt, host)
        if task is None:
            return []
        producer = task.inputs[input_id].producer if 0 <= input_id < len(task.inputs) else None
        if producer is None or self.status != "active" or self.tasks[producer].status != "done":
            return []
        return self._rewind({producer}, now, f"input {input_id} of task {task_id} failed")

    def node_lost(self, host: str, now: float) -> list:
        """A node's link closed: fail its running attempts and re-create lost, needed data."""
        self.hosts.discard(host)
        if self.status != "active":
            return []
        acts: list = []
        for task_id in sorted(self._running):
            task = self.tasks[task_id]
            for attempt, (where, _start) in sorted(task.live.items()):
                if where == host:
                    acts += self.task_failed(task_id, attempt, host, cluster.KIND_ERROR,
                                             LOST_NODE_MESSAGE, now)
        for task in self.tasks.values():
            if host in task.orphans.values():
                waited = task.status == "waiting" and task.orphans.get(task.attempt) == host
                task.orphans = {a: h for a, h in task.orphans.items() if h != host}
                if waited:   # its pre-restart attempt's node is gone: run it now
                    acts.append(self._enqueue(task))
        lost = {t.id for t in self.tasks.values() if t.status == "done"
                and any(_only_on(out, host) for out in t.outputs)}
        if lost and self.status == "active":
            acts += self._rewind(lost, now, f"node {host} was lost")
        return acts

    def node_added(self, host: str) -> list:
        """A node (re)connected: tasks waiting for their pre-restart attempt there run now."""
        self.hosts.add(host)
        if self.status != "active":
            return []
        return [self._enqueue(t) for t in self.tasks.values()
                if t.status == "waiting" and t.orphans.get(t.attempt) == host]

    def tick(self, now: float) -> list:
        """Re-queue tasks whose retry back-off has expired; copy stragglers."""
        acts: list = []
        while self._timers and self._timers[0][0] <= now:
            _due, task_id, attempt = heapq.heappop(self._timers)
            task = self.tasks[task_id]
            if task.status == "waiting" and task.attempt == attempt and self.status == "active":
                acts.append(self._enqueue(task))
        if self.speculation.enabled and self._running and now >= self._next_speculation:
            self._next_speculation = now + SPECULATION_PERIOD
            acts += self._speculate(now)
        return acts

    def next_timer(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def kill(self, reason: str, now: float, event: str = "WARN: Job killed") -> list:
        """Stop the job (killed by a user or failed): kill running tasks, mark it dead."""
        if self.status != "active":
            return []
        acts: list = [action.Event("master", event)]
        acts += self._drop_tasks(list(self.tasks.values()), now)
        self.status = "dead"
        return acts + [action.JobFinished("dead", reason=reason)]

    # ---- speculative execution ---------------------------------------------------------

    def _speculate(self, now: float) -> list:
        """Queue a second attempt of each straggler (see `SpeculationPolicy`)."""
        policy = self.speculation
        acts: list = []
        by_stage: dict[str, list[Task]] = {}
        for task_id in sorted(self._running):
            task = self.tasks[task_id]
            if len(task.live) == 1 and not task.speculative:
                by_stage.setdefault(task.stage, []).append(task)
        for name, candidates in by_stage.items():
            stage = self._stage(name)
            if not stage.durations or not self._previous_finished(stage):
                continue
            done = sum(self.tasks[t].status == "done" for t in stage.tasks)
            if done < policy.quantile * len(stage.tasks):
                continue
            median = stage.durations[len(stage.durations) // 2]
            threshold = max(policy.min_runtime, policy.multiplier * median)
            for task in candidates:
                ((host, started),) = task.live.values()
                if now - started <= threshold:
                    continue
                avoid = frozenset(task.failed_hosts | {host})
                if self.hosts and self.hosts <= avoid:
                    continue   # no other host to run a copy on
                task.speculative = True
                acts.append(action.Event("master", f"WARNING: [{name}:{task.id}] running for "
                                              f"{now - started:.1f} s on {host} (the stage's "
                                              f"median is {median:.1f} s): starting a "
                                              f"speculative attempt elsewhere"))
                acts.append(action.Enqueue(task.id, tuple(self._preferred(task)), avoid))
        return acts

    def _abandon(self, task: Task, now: float, why: str) -> list:
        """Stop every other attempt of a task (a speculative race is decided)."""
        acts: list = []
        if task.speculative:
            task.speculative = False
            acts.append(action.Dequeue(task.id))
        if task.status == "queued":
            acts.append(action.Dequeue(task.id))
        for attempt, (host, _start) in sorted(task.live.items()):
            acts += self._end_attempt(task, attempt, now)
            acts += [action.KillTask(host, task.id, attempt),
                     action.Event("master", f"SYS: [{task.stage}:{task.id}] killed attempt "
                                       f"{attempt} on {host}: {why}")]
        return acts

    # ---- persistence and resuming after a master restart --------------------------------

    def plan(self) -> dict:
        """What the store keeps (once, at submission) to rebuild this coordinator."""
        return {"pipeline": [[s.name, s.grouping, s.concurrent] for s in self.stages],
                "inputs": [output_to_json(ref.output) for ref in self.inputs],
                "options": dataclasses.asdict(self.options)}

    @staticmethod
    def task_state(task: Task) -> dict:
        """The part of a task the store keeps beyond its timeline row (JSON)."""
        state = {"group": list(task.group), "inputs": [ref_to_json(r) for r in task.inputs],
                 "inputs_done": task.inputs_done,
                 "outputs": [output_to_json(out) for out in task.outputs],
                 "failed_hosts": sorted(task.failed_hosts)}
        running = {a: h for a, (h, _s) in task.live.items()} | task.orphans
        if running:
            state["running"] = sorted([a, h] for a, h in running.items())
        if task.waiting_on:
            state["waiting_on"] = sorted([p, i] for p, i in task.waiting_on.items())
        if task.fed:
            state["fed"] = True
        if task.prior_outputs:
            state["prior_outputs"] = task.prior_outputs
        if task.counters:
            state["counters"] = task.counters
        return state

    @classmethod
    def restore(cls, name: str, plan: dict, rows: list[dict], start_time: float,
                retry: RetryPolicy | None = None, rng: random.Random | None = None,
                hosts: set[str] | None = None,
                speculation: SpeculationPolicy | None = None) -> JobCoordinator:
        """Rebuild a coordinator from its stored plan and task rows (see `resume`).

        Raises ValueError (or KeyError/TypeError) when the stored state is incomplete.
        """
        coordinator = cls(name, [tuple(p) for p in plan["pipeline"]],
                          [output_from_json(o) for o in plan["inputs"]],
                          JobOptions(**plan["options"]), retry, rng, hosts, speculation)
        coordinator.start_time = start_time
        for row in sorted(rows, key=lambda r: r["task"]):
            coordinator._restore_task(row)
        coordinator.dirty.clear()
        return coordinator

    def _restore_task(self, row: dict) -> None:
        state = row.get("state")
        if not isinstance(state, dict):
            raise ValueError(f"task {row.get('task')} of {self.name} has no stored state")  # noqa: TRY004
        task = Task(int(row["task"]), row["stage"], tuple(state["group"]),
                    [ref_from_json(r) for r in state["inputs"]], bool(state["inputs_done"]),
                    status=row["status"], attempt=int(row["attempts"] or 0), host=row["host"],
                    failures=int(row["failures"] or 0),
                    failed_hosts=set(state.get("failed_hosts") or ()),
                    outputs=[output_from_json(o) for o in state["outputs"]],
                    start=row["start"], end=row["end"],
                    waiting_on={int(p): [int(i) for i in idx]
                                for p, idx in state.get("waiting_on") or ()},
                    fed=bool(state.get("fed")),
                    prior_outputs=int(state.get("prior_outputs") or 0),
                    counters=dict(state.get("counters") or {}))
        if task.status == "running":
            running = state.get("running") or ([[task.attempt, task.host]] if task.host else [])
            task.orphans = {int(a): h for a, h in running}
        self.tasks[task.id] = task
        self._next_id = max(self._next_id, task.id + 1)
        if task.status != "dropped":
            stage = self._stage(task.stage)
            stage.tasks.append(task.id)
            stage.group_map[task.group] = task.id
            stage.failures += task.failures
            if stage.start is None or (task.start is not None and task.start < stage.start):
                stage.start = task.start
            if task.status == "done" and task.start is not None and task.end is not None:
                bisect.insort(stage.durations, task.end - task.start)

    def resume(self, now: float, grace: float = 0.0) -> list:
        """Carry on after a master restart: keep done tasks, queue every unfinished one.

        Stages whose tasks are all done count as finished; the first unfinished stage is
        planned if it has no tasks yet. The tasks of a concurrent stage are kept as stored
        (done ones stay done; the store writes every change of one pass in one commit, so
        they hold exactly the inputs fed to them). A task whose attempt was running waits
        up to `grace` seconds for that attempt's node to reconnect (`node_added`): the node
        re-sends the report of an attempt that finished unstored (`task_done` accepts such
        an orphan), so a task is not run twice because the master was killed.
        """
        requeue = [t for t in self.tasks.values() if t.status in ("queued", "waiting", "running")]
        for task in requeue:
            task.status, task.retry_at = "queued", None
            if task.orphans and grace > 0:
                task.status, task.retry_at = "waiting", now + grace
                heapq.heappush(self._timers, (task.retry_at, task.id, task.attempt))
            self.dirty.add(task.id)
        done = sum(t.status == "done" for t in self.tasks.values())
        acts: list = [action.Event("master", f"WARNING: Job resumed after a master restart: {done} "
                                        f"done task(s) kept, {len(requeue)} to run again")]
        acts += self._resume_stages(now)
        acts += [self._enqueue(t) for t in requeue if t.status == "queued"]
        return acts

    def _resume_stages(self, now: float) -> list:
        acts: list = []
        for stage in self.stages:
            previous = self.stages[stage.index - 1] if stage.index else None
            if previous is not None and not previous.finished:
                return acts
            if not stage.tasks:
                refs = self.inputs if previous is None else self._stage_refs(previous)
                return acts + self._plan(stage, refs, now)
            if stage.concurrent and previous is not None:
                for task_id in stage.tasks:
                    self.tasks[task_id].inputs_done = True
                    self.dirty.add(task_id)
            if any(self.tasks[t].status != "done" for t in stage.tasks):
                return acts
            acts.append(self._mark_finished(stage))
        return acts + self._finish(now)

    # ---- stage planning ----------------------------------------------------------------

    def _plan(self, stage: Stage, refs: list[OutputRef], now: float) -> list:
        """Create a (non-concurrent) stage's tasks from all its inputs."""
        stage.start = now
        groups = group_outputs(stage.grouping, refs, self.rng)
        if not groups:
            return self._stage_finished(stage, now)
        acts: list = [action.Event("master",
                                   f"Stage {stage.name} scheduled with {len(groups)} tasks")]
        for group, group_refs in groups:
            acts.append(self._new_task(stage, group, group_refs, inputs_done=True))
        return acts

    def _new_task(self, stage: Stage, group: tuple, refs: list, inputs_done: bool):
        task = Task(self._next_id, stage.name, group, list(refs), inputs_done)
        self._next_id += 1
        self.tasks[task.id] = task
        stage.tasks.append(task.id)
        stage.group_map[group] = task.id
        return self._enqueue(task)

    def _feed_concurrent(self, stage: Stage, task: Task, now: float) -> list:
        """Stream a finished task's outputs into a concurrent next stage."""
        following = self._following(stage)
        if following is None or not following.concurrent:
            return []
        if following.start is None:
            following.start = now
        task.fed = True
        refs = [OutputRef(task.id, i, out) for i, out in enumerate(task.outputs)]
        return self._route(following, refs)

    def _route(self, following: Stage, refs: list[OutputRef]) -> list:
        """Add refs to the tasks of `following` by their group (new groups: new tasks)."""
        acts: list = []
        for group, group_refs in group_outputs(following.grouping, refs, self.rng):
            consumer_id = following.group_map.get(group)
            if consumer_id is None or self.tasks[consumer_id].status in ("done", "dropped"):
                inputs_done = not following.concurrent or self._previous_finished(following)
                acts.append(self._new_task(following, group, group_refs, inputs_done))
                continue
            consumer = self.tasks[consumer_id]
            consumer.inputs.extend(group_refs)
            self.dirty.add(consumer.id)
            acts += self._send_new_inputs(consumer)
        return acts

    def _send_new_inputs(self, task: Task) -> list:
        if task.status != "running":
            return []
        records = self._records(task, task.sent)
        task.sent = len(task.inputs)
        return [action.SendInputs(host, task.id, attempt, records, task.inputs_done)
                for attempt, (host, _start) in sorted(task.live.items())]

    def _maybe_finish_stage(self, stage: Stage, now: float) -> list:
        if stage.finished or not self._previous_finished(stage):
            return []
        if not self._all_done(stage):
            return []
        return self._stage_finished(stage, now)

    def _all_done(self, stage: Stage) -> bool:
        """True when every task of the stage is done.

        Called on every task_done: scanning all tasks each time made a 10,000-task job
        quadratic. Tasks finish roughly in order, so the scan resumes where the last one
        stopped; only a scan reaching the end re-checks the whole stage (a task before the
        hint may have been rewound), so the hint can delay nothing and fake nothing.
        """
        tasks, ids = self.tasks, stage.tasks
        index = min(stage.done_scan, len(ids))
        while index < len(ids) and tasks[ids[index]].status == "done":
            index += 1
        stage.done_scan = index
        if index < len(ids):
            return False
        if all(tasks[t].status == "done" for t in ids):
            return True
        stage.done_scan = 0
        return False

    def _mark_finished(self, stage: Stage) -> action.StageDone:
        stage.finished = True
        results = [output_urls(out) for t in stage.tasks for out in self.tasks[t].outputs]
        self.stage_results[stage.name] = results
        return action.StageDone(stage.name, results)

    def _stage_finished(self, stage: Stage, now: float) -> list:
        done = self._mark_finished(stage)
        since = format_duration(now - (stage.start if stage.start is not None else now))
        acts: list = [action.Event("master", f"Stage {stage.name} finished in {since}"), done]
        following = self._following(stage)
        if following is None:
            return acts + self._finish(now)
        if not following.concurrent:
            if not following.tasks and not following.finished:
                return acts + self._plan(following, self._stage_refs(stage), now)
            # planned before some of this stage's outputs were lost: its tasks got the
            # re-created outputs as their producers finished again (`_unblock`)
            return acts + self._maybe_finish_stage(following, now)
        for task_id in following.tasks:
            consumer = self.tasks[task_id]
            consumer.inputs_done = True
            self.dirty.add(consumer.id)
            if consumer.status == "running":
                acts += [action.SendInputs(host, consumer.id, attempt, [], True)
                         for attempt, (host, _start) in sorted(consumer.live.items())]
        return acts + self._maybe_finish_stage(following, now)

    def _finish(self, now: float) -> list:
        last = self.stages[-1] if self.stages else None
        self.results = list(self.stage_results.get(last.name, [])) if last else []
        self.status = "ready"
        since = format_duration(now - (self.start_time if self.start_time is not None else now))
        return [action.Event("master", f"READY: Job done in {since}"),
                action.JobFinished("ready", results=self.results)]

    # ---- failures and lineage re-planning ----------------------------------------------

    def _retry(self, task: Task, stage: Stage, host: str, now: float, error: str = "") -> list:
        task.failures += 1
        count, limit = task.failures, self.retry.max_failure_rate
        label = f"{stage.name}:{task.id}"
        if count > limit:
            task.status = "dropped"
            message = f"Task {label} failed {count} times. At most {limit} failures are allowed."
            reason = f"{message} Last failure on {host}: {error}" if error else message
            return [action.Event("master", f"ERROR: [{label}] {message}")] + self.kill(
                reason, now, f"ERROR: Job failed: {message}")
        sleep = min(count * self.retry.unit, self.retry.maximum)
        sleep += self.rng.uniform(0, self.retry.randomize)
        task.failed_hosts.add(host)
        if self.hosts and self.hosts <= task.failed_hosts:
            task.failed_hosts.clear()  # every host failed once: let it try anywhere again
        task.status, task.retry_at = "waiting", now + sleep
        heapq.heappush(self._timers, (task.retry_at, task.id, task.attempt))
        return [action.Event("master", f"Task {label} failed on {host}, {_ordinal(count)} failures "
                                  f"so far. Sleeping {round(sleep)} seconds before retrying.")]

    def _rewind(self, lost: set[int], now: float, why: str) -> list:
        """Re-run the done tasks in `lost` whose outputs are still needed, and what they need.

        Walking the stages from the last one back: a lost task re-runs when its outputs
        are needed by the results, by a next stage still to be planned, or by a consumer
        that has still to run (or re-runs itself). Consumers of re-running tasks that
        have not finished are stopped and blocked until their producers are done again.
        """
        consumers = self._consumers()
        rerun: set[int] = set()
        for stage in reversed(self.stages):
            for task_id in stage.tasks:
                if task_id in lost and self._needed(task_id, stage, consumers, rerun):
                    rerun.add(task_id)
        if not rerun:
            return []
        order = sorted(rerun, key=lambda t: (self._stage(self.tasks[t].stage).index, t))
        names = ", ".join(f"{self.tasks[t].stage}:{t}" for t in order)
        acts: list = [action.Event("master", f"WARNING: {why}; re-running {len(order)} task(s) "
                                        f"whose outputs were lost and are still needed: "
                                        f"{names}")]
        for task_id in order:
            task = self.tasks[task_id]
            stage = self._stage(task.stage)
            task.prior_outputs = len(task.outputs)
            task.outputs, task.status = [], "waiting"
            stage.finished = False
            stage.done_scan = 0
            self.stage_results.pop(stage.name, None)
        affected = sorted({c for t in order for c in consumers.get(t, ())
                           if c not in rerun and self.tasks[c].status not in ("done", "dropped")})
        for task_id in affected:
            task = self.tasks[task_id]
            if task.status == "running":
                acts += self._abandon(task, now, "an input is re-created")
            elif task.status == "queued":
                acts.append(action.Dequeue(task.id))
        for task_id in order + affected:
            acts += self._restart(self.tasks[task_id])
        return acts

    def _needed(self, task_id: int, stage: Stage, consumers: dict, rerun: set[int]) -> bool:
        following = self._following(stage)
        if following is None:
            return self.status == "active"
        if not following.tasks:
            return not following.finished
        return any(self.tasks[c].status != "done" or c in rerun
                   for c in consumers.get(task_id, ()))

    def _consumers(self) -> dict[int, set[int]]:
        """producer id -> ids of the (not dropped) tasks reading its outputs."""
        readers: dict[int, set[int]] = {}
        for task in self.tasks.values():
            if task.status == "dropped":
                continue
            for ref in task.inputs:
                if ref.producer is not None:
                    readers.setdefault(ref.producer, set()).add(task.id)
            for producer in task.waiting_on:
                readers.setdefault(producer, set()).add(task.id)
        return readers

    def _restart(self, task: Task) -> list:
        """Queue a task again, or block it on its producers that are not done."""
        kept = []
        for ref in task.inputs:
            if ref.producer is not None and self.tasks[ref.producer].status != "done":
                task.waiting_on.setdefault(ref.producer, []).append(ref.index)
            else:
                kept.append(ref)
        task.inputs = kept
        self.dirty.add(task.id)
        if task.waiting_on:
            task.status = "blocked"
            return []
        return [self._enqueue(task)]

    def _unblock(self, producer: Task, stage: Stage, now: float) -> list:
        """A producer is done again: its readers get its new outputs in place of the lost."""
        following = self._following(stage)
        if following is None or not producer.prior_outputs:
            return []
        acts: list = []
        outputs = producer.outputs
        for task_id in following.tasks:
            task = self.tasks[task_id]
            if task.status == "dropped":
                continue
            # keep every reader's references current (a done reader may re-run later)
            task.inputs = [OutputRef(r.producer, r.index, outputs[r.index])
                           if r.producer == producer.id and r.index < len(outputs) else r
                           for r in task.inputs]
            indices = task.waiting_on.pop(producer.id, None)
            if indices is None:
                continue
            task.inputs.extend(OutputRef(producer.id, i, outputs[i])
                               for i in indices if i < len(outputs))
            self.dirty.add(task.id)
            if not task.waiting_on and task.status == "blocked":
                acts.append(self._enqueue(task))
        if len(outputs) > producer.prior_outputs and following.tasks:
            extra = [OutputRef(producer.id, i, outputs[i])
                     for i in range(producer.prior_outputs, len(outputs))]
            acts += self._route_extra(following, extra, now)
        producer.prior_outputs = 0
        return acts

    def _route_extra(self, following: Stage, refs: list[OutputRef], now: float) -> list:
        """Outputs a re-run made beyond those of the lost run (a task that is not a function
        of its inputs): each goes to the task of its group, restarted if it runs; a group
        whose task is done gets a new task (its records are then split over two tasks)."""
        if following.concurrent:
            return self._route(following, refs)
        acts: list = []
        for group, group_refs in group_outputs(following.grouping, refs, self.rng):
            consumer_id = following.group_map.get(group)
            consumer = self.tasks.get(consumer_id) if consumer_id is not None else None
            if consumer is None or consumer.status in ("done", "dropped"):
                acts.append(action.Event("master", f"WARNING: a re-run task made outputs its lost "
                                              f"run did not; they go to a new task of stage "
                                              f"{following.name} (tasks should be "
                                              f"deterministic)"))
                acts.append(self._new_task(following, group, group_refs, inputs_done=True))
                continue
            if consumer.status == "running":
                acts += self._abandon(consumer, now, "it has a new input")
            elif consumer.status == "queued":
                acts.append(action.Dequeue(consumer.id))
            consumer.inputs.extend(group_refs)
            acts += self._restart(consumer)
        return acts

    def _drop_tasks(self, tasks: list[Task], now: float) -> list:
        """Stop tasks: kill running attempts, dequeue queued ones; done ones stay done."""
        acts: list = []
        for task in tasks:
            if task.status == "running":
                if task.speculative:
                    acts.append(action.Dequeue(task.id))
                    task.speculative = False
                for attempt, (host, _start) in sorted(task.live.items()):
                    acts += self._end_attempt(task, attempt, now)
                    acts.append(action.KillTask(host, task.id, attempt))
            elif task.status == "queued":
                acts.append(action.Dequeue(task.id))
            if task.status != "done":
                task.status = "dropped"
            self.dirty.add(task.id)
        return acts

    # ---- helpers -----------------------------------------------------------------------

    def _preferred(self, task: Task) -> list[str]:
        return [task.group[1]] if task.group[1] else locality(task.inputs)

    def _enqueue(self, task: Task) -> action.Enqueue:
        task.status = "queued"
        self.dirty.add(task.id)
        return action.Enqueue(task.id, tuple(self._preferred(task)), frozenset(task.failed_hosts))

    def _end_attempt(self, task: Task, attempt: int, now: float) -> list:
        """One attempt stopped running: free its slot."""
        host, _start = task.live.pop(attempt)
        stage = self._stage(task.stage)
        stage.running -= 1
        if not task.live:
            self._running.discard(task.id)
        task.end = now
        self.dirty.add(task.id)
        return [action.Release(task.id, host)]

    def _current(self, task_id: int, attempt: int, host: str) -> Task | None:
        """The task if this report is for a running attempt (stale reports are ignored)."""
        task = self.tasks.get(task_id)
        if task is None or task.status != "running":
            return None
        live = task.live.get(attempt)
        return task if live is not None and live[0] == host else None

    def _records(self, task: Task, start: int) -> list:
        stage = self._stage(task.stage)
        records = (input_record(i, task.inputs[i], stage.grouping, task.group)
                   for i in range(start, len(task.inputs)))
        return [r for r in records if r is not None]

    def _stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def _following(self, stage: Stage) -> Stage | None:
        index = stage.index + 1
        return self.stages[index] if index < len(self.stages) else None

    def _previous_finished(self, stage: Stage) -> bool:
        return stage.index == 0 or self.stages[stage.index - 1].finished

    def _stage_refs(self, stage: Stage) -> list[OutputRef]:
        return [OutputRef(t, i, out) for t in stage.tasks
                for i, out in enumerate(self.tasks[t].outputs)]

    # ---- read-only views ---------------------------------------------------------------

    def stage_counts(self) -> list[list]:
        """Rows ``[stage, pending, waiting, running, done, failed]`` for jobinfo."""
        rows = []
        for stage in self.stages:
            counts = {"queued": 0, "waiting": 0, "running": 0, "done": 0}
            for task_id in stage.tasks:
                status = self.tasks[task_id].status
                if status == "blocked":
                    status = "waiting"
                if status in counts:
                    counts[status] += 1
            rows.append([stage.name, counts["queued"], counts["waiting"], counts["running"],
                         counts["done"], stage.failures])
        return rows

    def running_hosts(self) -> list[str]:
        return sorted({h for t in self._running for h, _s in self.tasks[t].live.values()})

    def running_tasks(self) -> list[Task]:
        return [self.tasks[t] for t in sorted(self._running)]


def _only_on(output, host: str) -> bool:
    """True when every copy of `output` lives on `host` (so losing it loses the output)."""
    hosts = output.hosts() if not isinstance(output, DirOutput) else [output.host]
    return bool(hosts) and all(h == host for h in hosts)


def _ordinal(count: int) -> str:
    # Disco writes "~Bth" whatever the number ("1th", "2th"); keep its text
    return f"{count}th"
