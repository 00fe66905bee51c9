"""Worker processes: start one per task, speak the worker protocol with it, kill it.

Layer 2 (`disco.node`). A `TaskRunner` owns one task attempt: it waits for the job home, starts
the worker executable in its own session/process group (stdout and stderr one pipe, replies on
stdin), feeds its output to the framing `Decoder` and the `TaskSession` state machine, enforces
Disco's timeouts and MSG rate limit, and reports the outcome to the master through `send`
(`task_done`, `task_failed`, `event`, `input_failed` messages of `disco.protocol.cluster`).

Everything that happens to a running worker arrives on one queue (output chunks, end of output,
more inputs, a kill order), so the monitor loop is a single consumer with a timeout, as rq's
`monitor_work_horse`: it waits in slices and checks the child between them.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from disco.node.jobhome import JobHome, JobHomes
from disco.node.outputs import write_results
from disco.node.protocol import (
    KIND_DONE,
    KIND_ERROR,
    Defer,
    MessageThrottle,
    Output,
    Reply,
    Stop,
    TaskInfo,
    TaskSession,
    is_message_name,
)
from disco.node.save import SaveError
from disco.protocol import cluster, framing

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 16
KIND_KILLED = "killed"

Send = Callable[[dict], None]
#: uploads a last-stage task's outputs to DDFS: (job, task, attempt, jobhome, outputs) -> outputs
Save = Callable[[str, int, int, str, list[Output]], list[Output]]


@dataclass(frozen=True)
class SupervisorConfig:
    """Timeouts and limits of the worker protocol (seconds, counts, bytes)."""

    start_timeout: float = 30.0        # DISCO_WORKER_START_TIMEOUT: WORKER must arrive by then
    message_timeout: float = 30.0      # DISCO_WORKER_MESSAGE_TIMEOUT: a started message stalls
    msg_rate_slow: int = 5             # DISCO_MSG_RATE_SLOW
    msg_rate_max: int = 10             # DISCO_MSG_RATE_MAX
    last_words_timeout: float = 10.0   # Disco's ERROR_TIMEOUT after a framing error
    last_words_max: int = 100 * 1024   # Disco's MAX_ERROR_BUFFER_SIZE
    exit_grace: float = 1.0            # wait for end of output after the worker exited
    poll_interval: float = 1.0         # monitor loop slice while the worker computes

    @classmethod
    def from_settings(cls, settings: Any) -> "SupervisorConfig":
        return cls(start_timeout=settings.get_float("DISCO_WORKER_START_TIMEOUT"),
                   message_timeout=settings.get_float("DISCO_WORKER_MESSAGE_TIMEOUT"),
                   msg_rate_slow=settings.get_int("DISCO_MSG_RATE_SLOW"),
                   msg_rate_max=settings.get_int("DISCO_MSG_RATE_MAX"))


class WorkerProcess(Protocol):
    """A started worker: what the monitor loop needs from it."""

    pid: int
    stdin: asyncio.StreamWriter | None
    stdout: asyncio.StreamReader | None

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


class Launcher(Protocol):
    """Starts a worker executable in a new session; see `ExecLauncher`."""

    async def launch(self, argv: list[str], cwd: str, env: dict[str, str]) -> WorkerProcess: ...


class ExecLauncher:
    """exec a fresh process per task (`asyncio.create_subprocess_exec`, new session).

    Disco ran `nice -n 19 <worker>`; we exec the worker directly: `nice` would cost one more
    process start per task, and the node's own niceness is the operator's choice.
    """

    async def launch(self, argv: list[str], cwd: str, env: dict[str, str]) -> WorkerProcess:
        return await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True, close_fds=True)


def worker_base_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The node's environment minus Disco's settings, the node's Python first on PATH."""
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if not k.startswith(("DISCO_", "DDFS_"))}
    return env


def worker_env(base: dict[str, str], jobenvs: dict[str, str]) -> dict[str, str]:
    """`base` plus the job's jobenvs; the node's interpreter directory first on PATH, so
    `#!/usr/bin/env python3` finds a Python that has `disco` installed."""
    env = dict(base)
    env.update(jobenvs)
    python_dir = os.path.dirname(sys.executable)
    env["PATH"] = python_dir + os.pathsep + env.get("PATH", os.defpath)
    return env


def kill_process_group(pid: int) -> None:
    """SIGKILL the worker's whole process group (its session); gone already is fine."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        log.warning("no permission to kill process group %d", pid)


def exit_code(returncode: int) -> int:
    """A shell-style exit code: 128+N for a worker killed by signal N (as Disco reported)."""
    return 128 - returncode if returncode < 0 else returncode


class TaskRunner:
    """One task attempt on this node; `run()` returns when the worker is gone and reported."""

    def __init__(self, run_task: dict, info: TaskInfo, jobhomes: JobHomes, launcher: Launcher,
                 base_env: dict[str, str], config: SupervisorConfig, send: Send,
                 save: Save | None = None) -> None:
        self.spec = run_task
        self.key = (run_task["job"], run_task["task"], run_task["attempt"])
        self.info = info
        self.session = TaskSession(info, run_task["inputs"], run_task["inputs_done"],
                                   MessageThrottle(config.msg_rate_slow, config.msg_rate_max))
        self._jobhomes, self._launcher, self._base_env = jobhomes, launcher, base_env
        self.config = config
        self._send = send
        self._save = save
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._decoder = framing.Decoder()
        self._process: WorkerProcess | None = None
        self._deferred: Any = None
        self._killed = False
        self._last_data = 0.0
        self.results: list = []

    # ---- orders from the master -----------------------------------------------------------

    def add_inputs(self, inputs: list, done: bool) -> None:
        self.session.add_inputs(inputs, done)
        self._queue.put_nowait(("inputs", None))

    def kill(self) -> None:
        """Stop the worker without reporting (the master asked, or lost this node)."""
        self._killed = True
        self._queue.put_nowait(("kill", None))
        if self._process is not None:
            kill_process_group(self._process.pid)

    # ---- the run ------------------------------------------------------------------------

    async def run(self) -> None:
        job, task, attempt = self.key
        try:
            home = await self._jobhomes.ensure(job, self.spec["jobpack"], self.spec["worker"])
        except Exception as exc:  # any failure to get the job home fails this attempt only
            log.warning("job %s: job home failed: %s", job, exc)
            self._report(Stop(KIND_ERROR, f"Jobpack extraction failed: {exc}"))
            return
        if self._killed:
            return
        outcome = await self._run_worker(home)
        if outcome.kind == KIND_DONE:
            outcome = await self._finish(home)
        self._report(outcome)

    async def _run_worker(self, home: JobHome) -> Stop:
        argv = [os.path.join(home.path, self.spec["worker"])]
        env = worker_env(self._base_env, home.jobenvs)
        started = time.monotonic()
        try:
            self._process = await self._launcher.launch(argv, home.path, env)
        except OSError as exc:
            return Stop(KIND_ERROR, f"Could not start the worker {argv[0]}: {exc}")
        log.debug("task %s: worker pid %d started in %.1f ms", self.key, self._process.pid,
                  (time.monotonic() - started) * 1000)
        if self._killed:  # a kill order that arrived while the process was starting
            kill_process_group(self._process.pid)
        reader = asyncio.create_task(self._read_output(self._process))
        try:
            return await self._monitor(started)
        finally:
            await self._stop_process(reader)

    async def _read_output(self, process: WorkerProcess) -> None:
        assert process.stdout is not None
        while True:
            chunk = await process.stdout.read(_READ_SIZE)
            if not chunk:
                self._queue.put_nowait(("eof", None))
                return
            self._queue.put_nowait(("data", chunk))

    async def _stop_process(self, reader: asyncio.Task) -> None:
        process = self._process
        assert process is not None
        kill_process_group(process.pid)
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout=self.config.exit_grace + 5)
        except asyncio.TimeoutError:
            log.warning("task %s: worker %d did not go away after SIGKILL", self.key,
                        process.pid)
        reader.cancel()

    # ---- monitor loop -------------------------------------------------------------------

    async def _monitor(self, started: float) -> Stop:
        self._last_data = started
        exited_at: float | None = None
        while True:
            timeout, on_timeout = self._next_deadline(started)
            try:
                what, data = await asyncio.wait_for(self._queue.get(), timeout)
            except asyncio.TimeoutError:
                if on_timeout is not None:
                    return self._warn(on_timeout)
                exited_at = self._check_exited(exited_at)
                if exited_at is not None and time.monotonic() - exited_at >= self.config.exit_grace:
                    return await self._crashed()
                continue
            if what == "kill":
                return Stop(KIND_KILLED)
            if what == "eof":
                return await self._crashed()
            if what == "inputs":
                outcome = await self._answer_deferred()
            else:
                self._last_data = time.monotonic()
                outcome = await self._on_data(data)
            if outcome is not None:
                return outcome

    def _next_deadline(self, started: float) -> tuple[float, str | None]:
        """How long to wait for the next event, and the warning if that wait runs out."""
        now = time.monotonic()
        if self.session.worker_pid is None:
            left = started + self.config.start_timeout - now
            if left <= 0 or left < self.config.poll_interval:
                return max(left, 0.0), (f"Worker did not send its PID in "
                                        f"{self.config.start_timeout:g} seconds")
            return self.config.poll_interval, None
        if self._decoder.mid_message:
            left = self._last_data + self.config.message_timeout - now
            if left < self.config.poll_interval:
                return max(left, 0.0), "Worker stuck in the middle of a message"
        return self.config.poll_interval, None

    def _check_exited(self, exited_at: float | None) -> float | None:
        """Notice a worker that exited while something (a grandchild) keeps its pipe open."""
        if exited_at is None and self._process is not None and self._process.returncode is not None:
            return time.monotonic()
        return exited_at

    async def _on_data(self, data: bytes) -> Stop | None:
        try:
            messages = self._decoder.feed(data)
        except framing.FramingError as exc:
            self._event("WARNING", f"Could not parse worker event: {exc.kind}")
            return await self._last_words(self._decoder.pending)
        for index, (name, body) in enumerate(messages):
            if not is_message_name(name):
                rest = b"".join(_frame(n, b) for n, b in messages[index:])
                self._event("WARNING", "Could not parse worker event: invalid_type")
                return await self._last_words(rest + self._decoder.pending)
            outcome = await self._handle(name, body)
            if outcome is not None:
                return outcome
        return None

    async def _handle(self, name: str, body: bytes) -> Stop | None:
        result = self.session.handle(name, body)
        self._flush_session_reports()
        if isinstance(result, Reply):
            await self._reply(result)
            return None
        if isinstance(result, Defer):
            self._deferred = result.request
            return None
        if result.warn:
            self._event("WARNING", result.message)
        return result

    async def _answer_deferred(self) -> Stop | None:
        if self._deferred is None:
            return None
        reply = self.session.answer_input(self._deferred)
        if reply is not None:
            self._deferred = None
            await self._reply(reply)
        return None

    async def _reply(self, reply: Reply) -> None:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        process = self._process
        if process is None or process.stdin is None:
            return
        try:
            process.stdin.write(framing.encode(reply.name, reply.payload))
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            log.debug("task %s: worker closed its stdin", self.key)

    async def _last_words(self, words: bytes) -> Stop:
        """After a framing error: collect more output for a while, then fail the task."""
        buffer = bytearray(words)
        deadline = time.monotonic() + self.config.last_words_timeout
        while len(buffer) < self.config.last_words_max:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                what, data = await asyncio.wait_for(self._queue.get(), left)
            except asyncio.TimeoutError:
                break
            if what == "kill":
                return Stop(KIND_KILLED)
            if what == "eof":
                break
            if what == "data":
                buffer += data
        return Stop(KIND_ERROR, last_words_message(bytes(buffer), self.config.last_words_max))

    async def _crashed(self) -> Stop:
        """The worker's output ended (or it exited) before DONE, ERROR or FATAL."""
        process = self._process
        assert process is not None
        try:
            code = await asyncio.wait_for(process.wait(), timeout=self.config.exit_grace)
        except asyncio.TimeoutError:
            code = process.returncode if process.returncode is not None else -signal.SIGKILL
        if self._killed:
            return Stop(KIND_KILLED)
        return self._warn(f"Worker crashed! (exit code: {exit_code(code)})")

    def _warn(self, message: str) -> Stop:
        self._event("WARNING", message)
        return Stop(KIND_ERROR, message)

    # ---- reporting ----------------------------------------------------------------------

    async def _finish(self, home: JobHome) -> Stop:
        """DONE: save the outputs to DDFS if they are saved results, write the index file,
        report the DONE event."""
        job, task, attempt = self.key
        outputs = self.session.outputs
        if home.saves(self.info.stage) and self._save is not None:
            try:
                outputs = await asyncio.to_thread(self._save, job, task, attempt, home.path,
                                                  outputs)
            except SaveError as exc:
                return self._warn(str(exc))
        try:
            self.results = write_results(home.path, self.info.host, job, self.info.stage, task,
                                         outputs)
        except OSError as exc:
            return Stop(KIND_ERROR, f"Writing the index file failed: {exc}")
        self._send(cluster.event(job, self.session.done_event()))
        return Stop(KIND_DONE)

    def _report(self, outcome: Stop) -> None:
        job, task, attempt = self.key
        if outcome.kind == KIND_KILLED or self._killed:
            log.info("task %s: killed", self.key)
        elif outcome.kind == KIND_DONE:
            self._send(cluster.task_done(job, task, attempt, self.results))
        else:
            log.info("task %s: %s: %s", self.key, outcome.kind, outcome.message[:500])
            self._send(cluster.task_failed(job, task, attempt, outcome.kind, outcome.message))

    def _flush_session_reports(self) -> None:
        job, task, attempt = self.key
        session = self.session
        for line in session.events:
            self._send(cluster.event(job, line))
        session.events.clear()
        for input_id, urls in session.failed_inputs:
            self._send(cluster.input_failed(job, task, attempt, input_id, urls))
        session.failed_inputs.clear()

    def _event(self, kind: str, text: str) -> None:
        self._send(cluster.event(self.key[0], self.session.event_line(kind, text)))


def last_words_message(words: bytes, limit: int) -> str:
    """Disco's text for a worker that broke the protocol."""
    if not words:
        return "Worker died without output"
    if len(words) > limit:
        words = words[:limit - 3] + b"..."
    return "Worker died. Last words:\n" + words.decode("utf-8", "replace")


def _frame(name: str, body: bytes) -> bytes:
    return b"%s %d %s\n" % (name.encode("latin-1"), len(body), body)
