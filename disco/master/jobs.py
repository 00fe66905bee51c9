"""Pure job coordinator: one job's pipeline of stages and tasks as a state machine.

Layer 1 (no I/O, no clock: every method takes ``now``; randomness from an injected
`random.Random`). Each method returns a list of `disco.master.actions` for the master app to
carry out. Behaviour follows Disco's ``job_coordinator.erl``:

* stages run in order; the outputs of a finished stage are grouped (`disco.master.grouping`)
  into the tasks of the next stage. A ``concurrent`` stage gets its tasks as soon as outputs of
  the previous stage arrive (inputs streamed with `SendInputs`), throttled so that
  ``2 * running(next) < running(prev)`` until the previous stage finishes;
* a task error is retried after ``min(C*unit, max) + random(0..random)`` seconds, never on a host
  where it already failed (reset once every cluster host failed), and kills the job after
  ``max_failure_rate`` failures; a fatal error kills the job at once;
* a lost node fails its running tasks (retried), and when it held done-task outputs still
  needed downstream the job rewinds: those tasks run again elsewhere and every later stage is
  re-planned (`node_lost`).

Task states: ``waiting`` (backing off after a failure), ``queued`` (with the scheduler),
``running``, ``done``, ``dropped`` (discarded by a rewind or a kill).
"""
from __future__ import annotations

import dataclasses
import heapq
import random
from dataclasses import dataclass, field

from disco.master import actions as A
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

LOST_NODE_MESSAGE = "Connection lost to the node (network busy?)"


@dataclass
class RetryPolicy:
    """Disco's retry back-off (seconds) and failure limit."""
    unit: float = 1.0
    maximum: float = 60.0
    randomize: float = 30.0
    max_failure_rate: int = 100


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
    attempt: int = 0
    host: str | None = None
    sent: int = 0                       # inputs sent to the current run
    failures: int = 0
    failed_hosts: set[str] = field(default_factory=set)
    outputs: list = field(default_factory=list)
    start: float | None = None
    end: float | None = None
    retry_at: float | None = None


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
    running: int = 0
    failures: int = 0
    done_scan: int = 0     # stage.tasks[:done_scan] were done when last looked at (a hint)


def format_duration(seconds: float) -> str:
    """Disco's ``H:MM:SS.mmm``."""
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, rest = divmod(millis, 3600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


class JobCoordinator:
    """State and decisions of one job; see the module docstring."""

    def __init__(self, name: str, pipeline: list, inputs: list, options: JobOptions,
                 retry: RetryPolicy | None = None, rng: random.Random | None = None,
                 hosts: set[str] | None = None) -> None:
        self.name = name
        self.stages = [Stage(i, s, g, bool(c)) for i, (s, g, c) in enumerate(pipeline)]
        self.inputs = [OutputRef(None, i, out) for i, out in enumerate(inputs)]
        self.options = options
        self.retry = retry or RetryPolicy()
        self.rng = rng or random.Random()
        self.hosts: set[str] = set(hosts or ())
        self.tasks: dict[int, Task] = {}
        self.status = "active"
        self.start_time: float | None = None
        self.results: list = []
        self.stage_results: dict[str, list] = {}
        self.dirty: set[int] = set()        # tasks changed since the store last saved them
        self._timers: list[tuple[float, int, int]] = []
        self._running: set[int] = set()
        self._next_id = 0

    # ---- entry points ------------------------------------------------------------------

    def start(self, now: float) -> list:
        self.start_time = now
        acts: list = [A.Event("master", "New job initialized!"),
                      A.Event("master", f'Created job "{self.name}"')]
        if not self.stages:
            return acts + self._finish(now)
        return acts + self._plan(self.stages[0], self.inputs, now)

    def assign(self, task_id: int, host: str, now: float) -> list:
        """The scheduler gave a queued task a slot on `host`: start a new attempt there."""
        task = self.tasks[task_id]
        if task.status != "queued" or self.status != "active":
            return [A.Release(task_id, host)]
        stage = self._stage(task.stage)
        task.status, task.host, task.start, task.end = "running", host, now, None
        task.attempt += 1
        stage.running += 1
        self._running.add(task_id)
        self.dirty.add(task_id)
        records = self._records(task, 0)
        task.sent = len(task.inputs)
        message = cluster.run_task(self.name, task.id, task.attempt, stage.name, stage.grouping,
                                   [task.group[0], task.group[1] or ""], self.options.worker,
                                   self.options.jobpack_url, records, task.inputs_done)
        return [A.Event("master", f"{stage.name}:{task.id} assigned to {host}"),
                A.RunTask(host, message)]

    def may_start(self, task_id: int) -> bool:
        """Concurrent-stage throttle: may this queued task take a slot now?"""
        stage = self._stage(self.tasks[task_id].stage)
        if not stage.concurrent or stage.index == 0:
            return True
        previous = self.stages[stage.index - 1]
        return previous.finished or 2 * stage.running < previous.running

    def task_done(self, task_id: int, attempt: int, host: str, results: list,
                  now: float) -> list:
        task = self._current(task_id, attempt)
        if task is None:
            return []
        stage = self._stop(task, now)
        task.status = "done"
        task.outputs = [output_from_result(url, labels) for url, labels in results]
        task.failed_hosts.discard(host)
        acts: list = [A.Release(task.id, host),
                      A.Event("master", f"SYS: [{stage.name}:{task.id}] Received results from {host}")]
        acts += self._feed_concurrent(stage, task, now)
        return acts + self._maybe_finish_stage(stage, now)

    def task_failed(self, task_id: int, attempt: int, host: str, kind: str, message: str,
                    now: float) -> list:
        task = self._current(task_id, attempt)
        if task is None:
            return []
        stage = self._stop(task, now)
        stage.failures += 1
        acts: list = [A.Release(task.id, host)]
        if kind == cluster.KIND_FATAL:
            task.status = "dropped"
            acts.append(A.Event(host, f"FATAL: [{stage.name}:{task.id}] {message}"))
            reason = (f"Task {stage.name}:{task.id} failed fatally on {host}: {message}")
            return acts + self.kill(reason, now, "ERROR: Job failed: " + reason)
        acts.append(A.Event(host, f"WARNING: [{stage.name}:{task.id}] {message}"))
        return acts + self._retry(task, stage, host, now, message)

    def input_failed(self, task_id: int, attempt: int, host: str, input_id: int,
                     now: float) -> list:
        """Every replica of one input failed: re-run the task that produced it, if any.

        The task's own outcome comes from its worker, which reports ERROR (retried) or,
        when the input does not exist at all, FATAL with the input named.
        """
        task = self._current(task_id, attempt)
        if task is None:
            return []
        producer = task.inputs[input_id].producer if 0 <= input_id < len(task.inputs) else None
        if producer is None or self.status != "active":
            return []
        return self._rewind({producer}, now, f"input {input_id} of task {task_id} failed")

    def node_lost(self, host: str, now: float) -> list:
        """A node's link closed: fail its running tasks and re-create data it held."""
        self.hosts.discard(host)
        if self.status != "active":
            return []
        acts: list = []
        for task_id in sorted(t for t in self._running if self.tasks[t].host == host):
            task = self.tasks[task_id]
            acts += self.task_failed(task_id, task.attempt, host, cluster.KIND_ERROR,
                                     LOST_NODE_MESSAGE, now)
        lost = {t.id for t in self.tasks.values() if t.status == "done"
                and any(_only_on(out, host) for out in t.outputs)}
        if lost and self.status == "active":
            acts += self._rewind(lost, now, f"node {host} was lost")
        return acts

    def node_added(self, host: str) -> None:
        self.hosts.add(host)

    def tick(self, now: float) -> list:
        """Re-queue tasks whose retry back-off has expired."""
        acts: list = []
        while self._timers and self._timers[0][0] <= now:
            _due, task_id, attempt = heapq.heappop(self._timers)
            task = self.tasks[task_id]
            if task.status == "waiting" and task.attempt == attempt and self.status == "active":
                acts.append(self._enqueue(task))
        return acts

    def next_timer(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def kill(self, reason: str, now: float, event: str = "WARN: Job killed") -> list:
        """Stop the job (killed by a user or failed): kill running tasks, mark it dead."""
        if self.status != "active":
            return []
        acts: list = [A.Event("master", event)]
        acts += self._drop_tasks(list(self.tasks.values()), now, drop_done=False)
        self.status = "dead"
        return acts + [A.JobFinished("dead", reason=reason)]

    # ---- persistence and resuming after a master restart --------------------------------

    def plan(self) -> dict:
        """What the store keeps (once, at submission) to rebuild this coordinator."""
        return {"pipeline": [[s.name, s.grouping, s.concurrent] for s in self.stages],
                "inputs": [output_to_json(ref.output) for ref in self.inputs],
                "options": dataclasses.asdict(self.options)}

    @staticmethod
    def task_state(task: Task) -> dict:
        """The part of a task the store keeps beyond its timeline row (JSON)."""
        return {"group": list(task.group), "inputs": [ref_to_json(r) for r in task.inputs],
                "inputs_done": task.inputs_done,
                "outputs": [output_to_json(out) for out in task.outputs],
                "failed_hosts": sorted(task.failed_hosts)}

    @classmethod
    def restore(cls, name: str, plan: dict, rows: list[dict], start_time: float,
                retry: RetryPolicy | None = None, rng: random.Random | None = None,
                hosts: set[str] | None = None) -> JobCoordinator:
        """Rebuild a coordinator from its stored plan and task rows (see `resume`).

        Raises ValueError (or KeyError/TypeError) when the stored state is incomplete.
        """
        coordinator = cls(name, [tuple(p) for p in plan["pipeline"]],
                          [output_from_json(o) for o in plan["inputs"]],
                          JobOptions(**plan["options"]), retry, rng, hosts)
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
                    start=row["start"], end=row["end"])
        self.tasks[task.id] = task
        self._next_id = max(self._next_id, task.id + 1)
        if task.status != "dropped":
            stage = self._stage(task.stage)
            stage.tasks.append(task.id)
            stage.group_map[task.group] = task.id
            stage.failures += task.failures
            if stage.start is None or (task.start is not None and task.start < stage.start):
                stage.start = task.start

    def resume(self, now: float) -> list:
        """Carry on after a master restart: keep done tasks, queue every unfinished one.

        Stages whose tasks are all done count as finished; the first unfinished stage is
        planned if it has no tasks yet; a concurrent stage fed by an unfinished stage is
        re-fed from the done tasks upstream. Attempts that were running are abandoned (their
        nodes killed them when the old master went away; stale reports are ignored).
        """
        requeue = [t for t in self.tasks.values() if t.status in ("queued", "waiting", "running")]
        for task in requeue:
            task.status, task.retry_at = "queued", None
            self.dirty.add(task.id)
        done = sum(t.status == "done" for t in self.tasks.values())
        acts: list = [A.Event("master", f"WARNING: Job resumed after a master restart: {done} "
                                        f"done task(s) kept, {len(requeue)} to run again")]
        acts += self._resume_stages(now)
        acts += [self._enqueue(t) for t in requeue if t.status == "queued"]
        return acts

    def _resume_stages(self, now: float) -> list:
        for stage in self.stages:
            if stage.finished:
                continue
            previous = self.stages[stage.index - 1] if stage.index else None
            if stage.concurrent and previous is not None:
                return self._refeed(previous, stage, now)
            if not stage.tasks:
                refs = self.inputs if previous is None else self._stage_refs(previous)
                return self._plan(stage, refs, now)
            if any(self.tasks[t].status != "done" for t in stage.tasks):
                following = self._following(stage)
                if following is not None and following.concurrent:
                    return self._refeed(stage, following, now)
                return []
            acts = [self._mark_finished(stage)]
            if stage.index == len(self.stages) - 1:
                return acts + self._finish(now)
            return acts + self._resume_stages(now)
        return self._finish(now) if all(s.finished for s in self.stages) else []

    def _refeed(self, stage: Stage, following: Stage, now: float) -> list:
        """Rebuild a concurrent stage's tasks from the done tasks of the stage feeding it."""
        acts = self._reset_stage(following, now)
        for task_id in list(stage.tasks):
            if self.tasks[task_id].status == "done":
                acts += self._feed_concurrent(stage, self.tasks[task_id], now)
        if all(self.tasks[t].status == "done" for t in stage.tasks):
            acts += self._stage_finished(stage, now)
        return acts

    # ---- stage planning ----------------------------------------------------------------

    def _plan(self, stage: Stage, refs: list[OutputRef], now: float) -> list:
        """Create a (non-concurrent) stage's tasks from all its inputs."""
        stage.start = now
        groups = group_outputs(stage.grouping, refs, self.rng)
        if not groups:
            return self._stage_finished(stage, now)
        acts: list = [A.Event("master", f"Stage {stage.name} scheduled with {len(groups)} tasks")]
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
        refs = [OutputRef(task.id, i, out) for i, out in enumerate(task.outputs)]
        acts: list = []
        for group, group_refs in group_outputs(following.grouping, refs, self.rng):
            consumer_id = following.group_map.get(group)
            if consumer_id is None:
                acts.append(self._new_task(following, group, group_refs, inputs_done=False))
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
        return [A.SendInputs(task.host, task.id, task.attempt, records, task.inputs_done)]

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

    def _mark_finished(self, stage: Stage) -> A.StageDone:
        stage.finished = True
        results = [output_urls(out) for t in stage.tasks for out in self.tasks[t].outputs]
        self.stage_results[stage.name] = results
        return A.StageDone(stage.name, results)

    def _stage_finished(self, stage: Stage, now: float) -> list:
        done = self._mark_finished(stage)
        since = format_duration(now - (stage.start if stage.start is not None else now))
        acts: list = [A.Event("master", f"Stage {stage.name} finished in {since}"), done]
        following = self._following(stage)
        if following is None:
            return acts + self._finish(now)
        if not following.concurrent:
            return acts + self._plan(following, self._stage_refs(stage), now)
        for task_id in following.tasks:
            consumer = self.tasks[task_id]
            consumer.inputs_done = True
            self.dirty.add(consumer.id)
            if consumer.status == "running":
                acts.append(A.SendInputs(consumer.host, consumer.id, consumer.attempt, [], True))
        return acts + self._maybe_finish_stage(following, now)

    def _finish(self, now: float) -> list:
        last = self.stages[-1] if self.stages else None
        self.results = list(self.stage_results.get(last.name, [])) if last else []
        self.status = "ready"
        since = format_duration(now - (self.start_time if self.start_time is not None else now))
        return [A.Event("master", f"READY: Job done in {since}"),
                A.JobFinished("ready", results=self.results)]

    # ---- failures and rewinds ----------------------------------------------------------

    def _retry(self, task: Task, stage: Stage, host: str, now: float, error: str = "") -> list:
        task.failures += 1
        count, limit = task.failures, self.retry.max_failure_rate
        label = f"{stage.name}:{task.id}"
        if count > limit:
            task.status = "dropped"
            message = f"Task {label} failed {count} times. At most {limit} failures are allowed."
            reason = f"{message} Last failure on {host}: {error}" if error else message
            return [A.Event("master", f"ERROR: [{label}] {message}")] + self.kill(
                reason, now, f"ERROR: Job failed: {message}")
        sleep = min(count * self.retry.unit, self.retry.maximum)
        sleep += self.rng.uniform(0, self.retry.randomize)
        task.failed_hosts.add(host)
        if self.hosts and self.hosts <= task.failed_hosts:
            task.failed_hosts.clear()  # every host failed once: let it try anywhere again
        task.status, task.retry_at = "waiting", now + sleep
        heapq.heappush(self._timers, (task.retry_at, task.id, task.attempt))
        return [A.Event("master", f"Task {label} failed on {host}, {_ordinal(count)} failures "
                                  f"so far. Sleeping {round(sleep)} seconds before retrying.")]

    def _rewind(self, lost: set[int], now: float, why: str) -> list:
        """Re-run lost done tasks of the earliest stage still needing them; re-plan later ones."""
        by_stage: dict[int, list[int]] = {}
        for task_id in lost:
            by_stage.setdefault(self._stage(self.tasks[task_id].stage).index, []).append(task_id)
        needed = [i for i in by_stage if self._outputs_needed(i)]
        if not needed:
            return []
        first = min(needed)
        while first > 0 and (first - 1) in by_stage:
            first -= 1  # re-running those tasks needs the outputs lost upstream too
        stage = self.stages[first]
        rerun = sorted(by_stage[first])
        acts: list = [A.Event("master", f"WARNING: {why}; re-running {len(rerun)} task(s) of "
                                        f"stage {stage.name} and re-planning later stages")]
        for later in self.stages[first + 1:]:
            acts += self._reset_stage(later, now)
        stage.finished = False
        self.stage_results.pop(stage.name, None)
        for task_id in rerun:
            task = self.tasks[task_id]
            task.outputs, task.status = [], "waiting"
            acts.append(self._enqueue(task))
        following = self._following(stage)
        if following is not None and following.concurrent:
            for task_id in list(stage.tasks):
                if self.tasks[task_id].status == "done":
                    acts += self._feed_concurrent(stage, self.tasks[task_id], now)
        return acts

    def _outputs_needed(self, index: int) -> bool:
        if index + 1 >= len(self.stages):
            return self.status == "active"
        return not self.stages[index + 1].finished

    def _reset_stage(self, stage: Stage, now: float) -> list:
        acts = self._drop_tasks([self.tasks[t] for t in stage.tasks], now, drop_done=True)
        stage.tasks, stage.group_map = [], {}
        stage.finished, stage.start, stage.running = False, None, 0
        self.stage_results.pop(stage.name, None)
        return acts

    def _drop_tasks(self, tasks: list[Task], now: float, drop_done: bool) -> list:
        """Stop tasks: kill running ones, dequeue queued ones; done ones only if `drop_done`."""
        acts: list = []
        for task in tasks:
            if task.status == "running":
                self._stop(task, now)
                acts += [A.KillTask(task.host, task.id, task.attempt), A.Release(task.id, task.host)]
            elif task.status == "queued":
                acts.append(A.Dequeue(task.id))
            if task.status != "done" or drop_done:
                task.status = "dropped"
            self.dirty.add(task.id)
        return acts

    # ---- helpers -----------------------------------------------------------------------

    def _enqueue(self, task: Task) -> A.Enqueue:
        task.status = "queued"
        self.dirty.add(task.id)
        hosts = [task.group[1]] if task.group[1] else locality(task.inputs)
        return A.Enqueue(task.id, tuple(hosts), frozenset(task.failed_hosts))

    def _stop(self, task: Task, now: float) -> Stage:
        stage = self._stage(task.stage)
        stage.running -= 1
        self._running.discard(task.id)
        task.end = now
        self.dirty.add(task.id)
        return stage

    def _current(self, task_id: int, attempt: int) -> Task | None:
        """The task if this report is for its running attempt (stale reports are ignored)."""
        task = self.tasks.get(task_id)
        if task is None or task.status != "running" or task.attempt != attempt:
            return None
        return task

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
                if status in counts:
                    counts[status] += 1
            rows.append([stage.name, counts["queued"], counts["waiting"], counts["running"],
                         counts["done"], stage.failures])
        return rows

    def running_hosts(self) -> list[str]:
        return sorted({self.tasks[t].host for t in self._running if self.tasks[t].host})

    def running_tasks(self) -> list[Task]:
        return [self.tasks[t] for t in sorted(self._running)]


def _only_on(output, host: str) -> bool:
    """True when every copy of `output` lives on `host` (so losing it loses the output)."""
    hosts = output.hosts() if not isinstance(output, DirOutput) else [output.host]
    return bool(hosts) and all(h == host for h in hosts)


def _ordinal(count: int) -> str:
    # Disco writes "~Bth" whatever the number ("1th", "2th"); keep its text
    return f"{count}th"
