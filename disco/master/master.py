"""The master runtime: job registry, carrying out coordinator actions, and the node links.

Layer 2 (asyncio). Decisions live in the pure `JobCoordinator` (per job) and `Scheduler`; this
module feeds them events (job submissions, node messages, timer ticks, node loss) and performs
the `disco.master.actions` they return: websocket messages to nodes, event-log lines, SQLite
writes. All state is owned by the event loop (no locks).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import aiohttp

from disco.addresses import co_located
from disco import httpauth, tls
from disco.error import DiscoError, JobPackError
from disco.master import actions as action
from disco.master import counters
from disco.master.events import EventLogs
from disco.master.grouping import DirOutput, output_from_input, url_host
from disco.master.jobs import JobCoordinator, JobOptions, RetryPolicy, SpeculationPolicy
from disco.master.nodes import Cluster
from disco.master.scheduler import Scheduler
from disco.master.store import Store
from disco.protocol import cluster as link
from disco.protocol import jobpack

log = logging.getLogger(__name__)

RESTART_REASON = "Master restarted while the job was active; the job could not be resumed"
#: actions after which a queued task may be able to start (they trigger a scheduling pass)
_UNBLOCKING = frozenset({action.Enqueue, action.Release, action.StageDone, action.JobFinished})


@dataclass
class JobEntry:
    """One job known to the master (live: has a coordinator; past: record only)."""
    name: str
    record: dict
    coordinator: JobCoordinator | None = None
    save_results: bool = False
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def status(self) -> str:
        return self.record["status"]


class Master:
    """Everything the REST API and the node websocket act on."""

    def __init__(self, config: Any, cluster: Cluster, store: Store, events: EventLogs) -> None:
        #: the typed settings (`disco.settings_table.Config`) the app built
        self.config = config
        self.cluster = cluster
        self.store = store
        self.events = events
        self.scheduler = Scheduler(config.disco_scheduler or "fair", config.disco_scheduler_alpha)
        seed = config.disco_scheduler_seed
        self.rng = random.Random(seed) if seed else random.Random()
        self.jobs: dict[str, JobEntry] = {}
        self.runtime = {"max_failure_rate": 100, "accept_new_jobs": 1}
        self.master_url = ""
        #: coroutine (tag, urls) that sets a tag's urls: DDFS's own, wired by the app (no HTTP)
        self.put_tag: Callable[[str, list], Awaitable[Any]] | None = None
        self.metrics = {"tasks_done": 0, "tasks_failed": 0, "task_seconds": 0.0}
        self._schedule_pending = False
        self._defer_schedule = False    # True while a node report is handled (node_message)
        self._background: set[asyncio.Task] = set()
        self._task_rows: list[tuple] = []
        #: host -> [[job, task, attempt]] of task_done reports to acknowledge once stored
        self._acks: dict[str, list] = {}
        #: jobs with tasks changed since their rows were last built (`flush_tasks` builds them)
        self._dirty: dict[str, JobEntry] = {}
        self._resumed: set[str] = set()
        self._pending_resume: list[JobEntry] = []
        self._resume_deadline: float | None = None
        #: job -> time it was purged; nodes' temp GC removes leftovers (GET /internal/node/jobs)
        self.purged: dict[str, float] = {}

    # ---- start-up --------------------------------------------------------------------------

    async def load(self) -> None:
        """Reload past jobs and resume the ones that were active when the master stopped.

        A job whose stored state cannot rebuild its coordinator (a database from before
        resumable jobs, or damaged rows) is marked dead with an event instead.
        """
        stored = await self.store.load_settings()
        for key in self.runtime:
            if key in stored:
                self.runtime[key] = int(stored[key])
        for record in await self.store.load_jobs():
            entry = JobEntry(record["name"], record)
            self.jobs[entry.name] = entry
            if record["status"] == "active" and await self._resume(entry):
                continue
            if record["status"] == "active":
                record.update(status="dead", reason=RESTART_REASON, end=time.time())
                self.events.add(entry.name, "master", f"ERROR: Job failed: {RESTART_REASON}")
                await self.store.save_job(record)
            entry.finished.set()
        if self._resumed:
            self._resume_deadline = time.time() + self.config.disco_node_timeout

    async def _resume(self, entry: JobEntry) -> bool:
        """Rebuild an active job's coordinator from the store and queue its unfinished tasks."""
        plan = entry.record.get("plan")
        if not isinstance(plan, dict):
            log.warning("job %s: no stored plan; it cannot be resumed", entry.name)
            return False
        rows = await self.store.load_tasks(entry.name)
        try:
            coordinator = JobCoordinator.restore(
                entry.name, plan, rows, entry.record["start"], self._retry_policy(),
                random.Random(self.rng.random()), self.cluster.connected_hosts(),
                self._speculation_policy())
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("job %s: stored state is incomplete (%s); it cannot be resumed",
                        entry.name, exc)
            return False
        entry.coordinator = coordinator
        entry.save_results = bool(plan.get("save_results"))
        options = plan["options"]
        self.scheduler.add_job(entry.name, options["max_cores"], options["force_local"],
                               options["force_remote"])
        self._resumed.add(entry.name)
        log.info("job %s: resumed with %d stored tasks", entry.name, len(rows))
        self._pending_resume.append(entry)
        return True

    def start_resumed(self) -> None:
        """Carry out the resumed jobs' first actions (once the event loop serves requests)."""
        now = time.time()
        grace = self.config.disco_node_timeout
        pending, self._pending_resume = self._pending_resume, []
        for entry in pending:
            self.apply(entry, entry.coordinator.resume(now, grace))

    def _resume_grace_over(self, now: float) -> None:
        """Hosts that did not come back after a restart count as lost for resumed jobs."""
        self._resume_deadline = None
        connected = self.cluster.connected_hosts()
        for name in sorted(self._resumed):
            entry = self.jobs.get(name)
            if entry is None or entry.coordinator is None or entry.status != "active":
                continue
            held = {host for task in entry.coordinator.tasks.values() if task.status == "done"
                    for out in task.outputs for host in out.hosts()}
            for host in sorted(held - connected):
                log.warning("job %s: host %s did not reconnect after the restart", name, host)
                self.apply(entry, entry.coordinator.node_lost(host, now))
        self._resumed.clear()

    # ---- job submission ----------------------------------------------------------------------

    async def submit(self, body: bytes) -> str:
        """Start a job from a job pack; raises `JobPackError` with Disco's reason."""
        parts = jobpack.parse(body)
        jobdict = parts.jobdict
        stages = jobpack.compile_pipeline(parts.version, jobdict)
        options = jobpack.scheduler_options(parts.version, jobdict)
        inputs = await self._annotate_inputs(jobpack.job_inputs(parts.version, jobdict))
        name = self._unique_name(jobdict["prefix"])
        await asyncio.to_thread(self._write_jobfile, name, body)
        now = time.time()
        record = {"name": name, "prefix": jobdict["prefix"], "owner": str(jobdict["owner"]),
                  "worker": jobdict["worker"], "status": "active", "start": now, "end": None,
                  "pipeline": [[s.name, 0, 0, 0, 0, 0] for s in stages],
                  "inputs": [u for i in jobpack.job_inputs(parts.version, jobdict) for u in i.urls],
                  "results": [], "stage_results": {}, "reason": "", "plan": None}
        coordinator = JobCoordinator(
            name, [(s.name, s.grouping, s.concurrent) for s in stages], inputs,
            JobOptions(jobdict["worker"], f"{self.master_url}/disco/ctrl/parameters?name={name}",
                       **options),
            self._retry_policy(), random.Random(self.rng.random()), self.cluster.connected_hosts(),
            self._speculation_policy())
        entry = JobEntry(name, record, coordinator, bool(jobdict.get("save_results", False)))
        record["plan"] = {**coordinator.plan(), "save_results": entry.save_results}
        self.jobs[name] = entry
        self.scheduler.add_job(name, **options)
        await self.store.save_job(record)
        self.apply(entry, coordinator.start(now))
        return name

    def _unique_name(self, prefix: str) -> str:
        now = time.time()
        name = jobpack.job_name(prefix, now)
        while name in self.jobs:
            now += 1e-6
            name = jobpack.job_name(prefix, now)
        return name

    def _write_jobfile(self, name: str, body: bytes) -> None:
        directory = self.events.job_dir(name)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "jobfile"), "wb") as f:
            f.write(body)

    def jobfile(self, name: str) -> str:
        return os.path.join(self.events.job_dir(name), "jobfile")

    async def _annotate_inputs(self, inputs: list) -> list:
        """Job inputs as outputs; ``dir://`` index files are read for their labels and sizes."""
        outputs = []
        for item in inputs:
            if not item.is_dir:
                outputs.append(output_from_input(item.label, item.size_hint, item.urls))
                continue
            url = item.urls[0]
            labels: dict[int, int] = {}
            for line in (await self._fetch_index(url)).splitlines():
                fields = line.split()
                if len(fields) >= 3:
                    labels[int(fields[0])] = labels.get(int(fields[0]), 0) + int(fields[-1])
            outputs.append(DirOutput(url_host(url) or "", url, tuple(sorted(labels.items()))))
        return outputs

    async def _fetch_index(self, url: str) -> str:
        host = url_host(url) or ""
        path = url.split("://", 1)[1].split("/", 1)[1] if "/" in url.split("://", 1)[1] else ""
        try:
            if co_located(host, self.cluster.master_host) and path.startswith("disco/"):
                local = os.path.join(self.config.disco_data, path[len("disco/"):])
                return await asyncio.to_thread(_read_text, local)
            async with httpauth.client_session(self.config) as http:
                async with http.get(f"{tls.scheme(self.config)}://{host}:{self.cluster.port}/"
                                    f"{path}") as response:
                    response.raise_for_status()
                    return await response.text()
        except (OSError, aiohttp.ClientError, ValueError) as exc:
            raise JobPackError(f"cannot read input index {url}: {exc}") from None

    def _retry_policy(self) -> RetryPolicy:
        c = self.config
        return RetryPolicy(
            c.disco_retry_sleep_unit,
            c.disco_retry_sleep_max,
            c.disco_retry_sleep_random,
            self.runtime["max_failure_rate"],
        )

    def _speculation_policy(self) -> SpeculationPolicy:
        c = self.config
        return SpeculationPolicy(c.disco_speculative, c.disco_speculative_quantile,
                                 c.disco_speculative_multiplier, c.disco_speculative_min_runtime)

    def set_runtime(self, values: dict[str, int]) -> None:
        self.runtime.update(values)
        for entry in self.live_jobs():
            entry.coordinator.retry.max_failure_rate = self.runtime["max_failure_rate"]
        self.background(self.store.save_settings({k: str(v) for k, v in self.runtime.items()}))

    # ---- carrying out actions ----------------------------------------------------------------

    def apply(self, entry: JobEntry, acts: list) -> None:
        """Carry out a coordinator's actions; its changed tasks are written at the next flush.

        A scheduling pass follows only actions that can let a queued task start (a task
        queued, a slot released, a stage or job ended); `_schedule` itself follows up when
        it left slots free.
        """
        name = entry.name
        reschedule = False
        for act in acts:
            kind = type(act)
            if kind is action.Event:
                self.events.add(name, act.host, act.message)
                continue
            if kind is action.RunTask:
                self._run_task(entry, act)
                continue
            if kind in _UNBLOCKING:
                reschedule = True
            if kind is action.Enqueue:
                self.scheduler.enqueue(name, act.task, act.hosts, act.avoid)
            elif kind is action.Release:
                self._release(name, act.task, act.host)
            elif kind is action.Dequeue:
                self.scheduler.dequeue(name, act.task)
            elif kind is action.SendInputs:
                self.send(act.host, link.more_inputs(name, act.task, act.attempt, act.inputs,
                                                     act.done))
            elif kind is action.KillTask:
                self.send(act.host, link.kill_task(name, act.task, act.attempt))
            elif kind is action.StageDone:
                entry.record["stage_results"][act.stage] = act.results
            elif kind is action.JobFinished:
                self._finished(entry, act)
        if entry.coordinator is not None and entry.coordinator.dirty:
            self._dirty[name] = entry
        if reschedule:
            self.schedule_soon()

    def _release(self, job: str, task: int, host: str) -> None:
        self.scheduler.release(job, host)
        node = self.cluster.node(host)
        if node is not None:
            node.running.pop((job, task), None)

    def _run_task(self, entry: JobEntry, act: action.RunTask) -> None:
        node = self.cluster.node(act.host)
        message = act.message
        if node is None or node.link is None:
            acts = entry.coordinator.task_failed(message["task"], message["attempt"], act.host,
                                                 link.KIND_ERROR, f"Node {act.host} unavailable",
                                                 time.time())
            self.apply(entry, acts)
            return
        node.running[(entry.name, message["task"])] = message["attempt"]
        node.link.send(message)

    def _finished(self, entry: JobEntry, act: action.JobFinished) -> None:
        coordinator = entry.coordinator
        entry.record.update(status=act.status, end=time.time(), reason=act.reason,
                            results=act.results, pipeline=coordinator.stage_counts())
        self.scheduler.remove_job(entry.name)
        if act.status == "ready" and entry.save_results:
            entry.record["status"] = "active"  # ready once the results tag is written
            self.background(self._save_results(entry, act.results))
            return
        # the job shows its final status once the store has it: a master killed right after
        # a client saw "ready" must not resume (and re-run) the job
        entry.record["status"] = "active"
        self.events.flush_soon(entry.name)
        self._persist_tasks(entry)
        self.flush_tasks()
        self.background(self._record_final(entry, act.status))

    async def _record_final(self, entry: JobEntry, status: str) -> None:
        """Write the finished job's record, then publish its status and wake waiters."""
        try:
            await self.store.save_job(dict(entry.record, status=status))
        finally:
            entry.record["status"] = status
            entry.finished.set()

    async def _save_results(self, entry: JobEntry, results: list) -> None:
        """Tag the blobs a saving job's last stage uploaded; results become the tag (§2.2)."""
        tag = f"disco:results:{entry.name}"
        try:
            if self.put_tag is None:
                raise DiscoError("this master has no DDFS")
            await self.put_tag(tag, blob_url_lists(results))
            entry.record.update(status="ready", results=[f"tag://{tag}"])
        except (DiscoError, OSError) as exc:
            self.events.add(entry.name, "master",
                            f"ERROR: Job {entry.name} failed to save results to tag://{tag}: {exc}")
            entry.record.update(status="dead", reason=f"saving results failed: {exc}")
        await self.events.flush_async(entry.name)
        await self.store.save_job(dict(entry.record))
        entry.finished.set()

    def _persist_tasks(self, entry: JobEntry) -> None:
        """Turn the entry's changed tasks into store rows (their state now)."""
        self._dirty.pop(entry.name, None)
        coordinator = entry.coordinator
        if coordinator is None or not coordinator.dirty:
            return
        name, tasks, rows = entry.name, coordinator.tasks, self._task_rows
        for task_id in sorted(coordinator.dirty):
            t = tasks[task_id]
            rows.append((name, t.id, t.stage, f"{t.group[0]},{t.group[1] or ''}", t.host,
                         t.start, t.end, t.status, t.attempt, t.failures,
                         _compact(JobCoordinator.task_state(t))))
        coordinator.dirty.clear()

    def flush_tasks(self) -> None:
        """Write the changed tasks of every job (the timer loop calls this every tick).

        Rows are built here rather than at each change: a task assigned and finished within
        one tick is encoded and written once, and the store gets one batch and one commit.
        """
        for entry in list(self._dirty.values()):
            self._persist_tasks(entry)
        rows, self._task_rows = self._task_rows, []
        acks, self._acks = self._acks, {}
        if rows or acks:
            self.background(self._store_tasks(rows, acks))

    async def _store_tasks(self, rows: list[tuple], acks: dict[str, list]) -> None:
        """Write task rows; then tell nodes which of their done reports are safe.

        A node keeps every ``task_done`` it sent until the master acknowledges it
        (``stored``), and sends the unacknowledged ones again when it reconnects: a task
        that finished just before the master was killed is then not run again.
        """
        await self.store.save_tasks(rows)
        for host, tasks in acks.items():
            self.send(host, link.stored(tasks))

    def background(self, coro) -> None:
        """Run a coroutine without waiting for it, keeping a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    async def drain(self) -> None:
        """Write pending task rows and wait for every background write (at shutdown)."""
        self.flush_tasks()
        await asyncio.gather(*self._background, return_exceptions=True)

    def _background_done(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed: %r", task.exception())

    # ---- scheduling ----------------------------------------------------------------------------

    def schedule_soon(self) -> None:
        """Coalesce many events into one scheduling pass on the next loop iteration."""
        if not self._schedule_pending:
            self._schedule_pending = True
            if not self._defer_schedule:
                asyncio.get_running_loop().call_soon(self._scheduled)

    def _scheduled(self) -> None:
        if self._schedule_pending:  # else a node report ran the pass meanwhile
            self._schedule()

    def cluster_changed(self) -> None:
        self.scheduler.set_hosts(self.cluster.usable_slots())
        self.schedule_soon()

    def _schedule(self) -> None:
        self._schedule_pending = False
        now = time.time()
        assigned = self.scheduler.schedule(self._gate)
        for job, task, host in assigned:
            entry = self.jobs.get(job)
            if entry is None or entry.coordinator is None:
                self.scheduler.release(job, host)
                continue
            self.apply(entry, entry.coordinator.assign(task, host, now))
        if assigned and self.scheduler.has_free_slot():
            # the tasks just started may let gated ones start (a concurrent stage's throttle)
            self.schedule_soon()

    def _gate(self, job: str, task: int) -> bool:
        entry = self.jobs.get(job)
        return entry is not None and entry.coordinator is not None and \
            entry.coordinator.may_start(task)

    def tick(self, now: float) -> None:
        if self._resume_deadline is not None and now >= self._resume_deadline:
            self._resume_grace_over(now)
        self.scheduler.update_shares(now)
        for entry in self.live_jobs():
            acts = entry.coordinator.tick(now)
            if acts:
                self.apply(entry, acts)

    def live_jobs(self) -> list[JobEntry]:
        return [e for e in self.jobs.values() if e.coordinator is not None and e.status == "active"]

    def send(self, host: str, message: dict) -> None:
        node = self.cluster.node(host)
        if node is not None and node.link is not None:
            node.link.send(message)

    def broadcast(self, message: dict) -> None:
        for node in self.cluster.nodes():
            if node.link is not None:
                node.link.send(message)

    # ---- node messages -------------------------------------------------------------------------

    def node_message(self, host: str, message: dict) -> None:
        op = message["op"]
        node = self.cluster.node(host)
        now = time.time()
        if node is not None:
            node.last_seen = now
        if op == link.STATUS:
            if node is not None:
                node.disk_free = int(message.get("disk_free") or 0)
                node.disk_used = int(message.get("disk_used") or 0)
            return
        if op == link.TASK_DONE:  # acknowledged after the next store commit
            self._acks.setdefault(host, []).append(
                [message["job"], message["task"], message["attempt"]])
        entry = self.jobs.get(message.get("job", ""))
        if entry is None or entry.coordinator is None:
            return
        if op == link.EVENT:
            self.events.add(entry.name, host, message["message"], now)
            return
        # the scheduling pass a report calls for runs right after it, not on the next loop
        # pass: a finished task's slot is refilled while handling its task_done
        self._defer_schedule = True
        try:
            self._task_report(entry, node, host, op, message, now)
        finally:
            self._defer_schedule = False
            if self._schedule_pending:
                self._schedule()

    def _task_report(self, entry: JobEntry, node, host: str, op: str, message: dict,
                     now: float) -> None:
        coordinator = entry.coordinator
        if op == link.TASK_DONE:
            self._count(node, "job_ok")
            acts = coordinator.task_done(message["task"], message["attempt"], host,
                                         message["results"], now,
                                         counters.sanitize(message.get("counters")))
            if acts:
                task = coordinator.tasks[message["task"]]
                if task.start is not None:
                    self.metrics["task_seconds"] += now - task.start
            self.apply(entry, acts)
        elif op == link.TASK_FAILED:
            self._count(node, "error" if message["kind"] == link.KIND_FATAL else "data_error")
            self.metrics["tasks_failed"] += 1
            acts = coordinator.task_failed(message["task"], message["attempt"], host,
                                           message["kind"], message["message"], now)
            self.apply(entry, acts)
        elif op == link.INPUT_FAILED:
            self._count(node, "data_error")
            acts = coordinator.input_failed(message["task"], message["attempt"], host,
                                            message["input"], now)
            self.apply(entry, acts)

    def _count(self, node, counter: str) -> None:
        if node is not None:
            setattr(node, counter, getattr(node, counter) + 1)
        if counter == "job_ok":
            self.metrics["tasks_done"] += 1

    def node_up(self, host: str) -> None:
        for entry in self.live_jobs():
            acts = entry.coordinator.node_added(host)
            if acts:
                self.apply(entry, acts)
        self.cluster_changed()

    def node_down(self, host: str) -> None:
        """A node's link closed: its running tasks fail, its data counts as lost."""
        now = time.time()
        for entry in self.live_jobs():
            self.apply(entry, entry.coordinator.node_lost(host, now))
        node = self.cluster.node(host)
        if node is not None:
            node.running.clear()
        self.cluster_changed()

    # ---- job control ---------------------------------------------------------------------------

    def kill(self, name: str) -> None:
        entry = self.jobs[name]
        if entry.coordinator is not None and entry.coordinator.status == "active":
            self.apply(entry, entry.coordinator.kill("killed by user", time.time()))
            self.broadcast(link.kill_job(name))

    async def kill_and_wait(self, name: str, timeout: float = 10.0) -> None:
        """Kill a job and wait until its final status is stored."""
        self.kill(name)
        entry = self.jobs.get(name)
        if entry is not None:
            try:
                await asyncio.wait_for(entry.finished.wait(), timeout)
            except asyncio.TimeoutError:
                log.warning("job %s: final status not stored within %ss", name, timeout)

    async def purge(self, name: str, purge_nodes: bool = True) -> None:
        await self.kill_and_wait(name)  # its final record is written before it is deleted
        entry = self.jobs.pop(name, None)
        if entry is None:
            return  # purged meanwhile by another request
        entry.finished.set()
        self.scheduler.remove_job(name)
        self._dirty.pop(name, None)
        self._task_rows = [row for row in self._task_rows if row[0] != name]
        await asyncio.to_thread(self.events.remove, name)
        await self.store.delete_job(name)
        if purge_nodes:
            self.broadcast(link.purge_job(name))
            self.purged[name] = time.time()

    async def wait_any(self, names: list[str], timeout: float) -> None:
        """Wait until any of the named active jobs ends, or `timeout` seconds."""
        waiters = [self.jobs[n].finished.wait() for n in names
                   if n in self.jobs and self.jobs[n].status == "active"]
        if not waiters:
            return
        tasks = [asyncio.ensure_future(w) for w in waiters]
        try:
            await asyncio.wait(tasks, timeout=max(timeout, 0), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()


#: compact JSON (as ``json.dumps(value, separators=(",", ":"))``) without a new encoder per call
_compact = json.JSONEncoder(separators=(",", ":")).encode


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def blob_url_lists(results: list) -> list[list[str]]:
    """Result replica lists as plain blob URLs: a tag holds no `#label` fragments."""
    return [[url.split("#", 1)[0] for url in replicas] for replicas in results]
