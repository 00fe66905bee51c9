"""Worker processes: start one per task, speak the worker protocol with it, kill it.

Layer 2 (`disco.node`). A `TaskRunner` owns one task attempt: it waits for the job home, starts
the worker executable in its own session/process group (stdout and stderr one pipe, replies on
stdin), feeds its output to the framing `Decoder` and the `TaskSession` state machine, enforces
Disco's timeouts and MSG rate limit, and reports the outcome to the master through `send`
(`task_done`, `task_failed`, `event`, `input_failed` messages of `disco.protocol.cluster`).

A node runs many short tasks a second, so a running worker costs the event loop as little as
possible: its output pipe is watched by a reader callback (`WorkerPipes`) that decodes and
answers complete messages at once (`TaskSession.handle` is pure), replies are written straight
to its stdin pipe, one timer per task checks the deadlines (and, as rq's `monitor_work_horse`,
whether the worker exited while something else holds its pipe), and the task's coroutine
sleeps on one future until the worker's session is over.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from disco.node.jobhome import JobHome, JobHomeEscape, JobHomes
from disco.node.outputs import write_results
from disco.node.protocol import (
    KIND_DONE,
    KIND_ERROR,
    KIND_FATAL,
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

#: the replies most worker messages get, encoded once
_ENCODED_OK = {payload: framing.encode("OK", payload) for payload in ("ok", "pong")}
#: worker reuse (our Python workers only): the environment variable that offers it; a
#: parked worker's next task starts with a ``NEXT`` frame carrying the task's TASK payload
#: (docs/benchmarks.md "Worker reuse")
REUSE_VARIABLE = "DISCO_WORKER_REUSE"
_REUSE_OFF = ("", "0", "false", "off", "no")

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
    poll_interval: float = 1.0         # how often the task's timer checks an unfinished worker
    worker_reuse: bool = True          # DISCO_WORKER_REUSE: our Python workers run several tasks
    reuse_idle: float = 10.0           # DISCO_WORKER_REUSE_IDLE: s a parked worker waits

    @classmethod
    def from_config(cls, config: Any) -> "SupervisorConfig":
        """The worker-protocol knobs of the node's typed Config (disco.settings_table)."""
        return cls(start_timeout=config.disco_worker_start_timeout,
                   message_timeout=config.disco_worker_message_timeout,
                   msg_rate_slow=config.disco_msg_rate_slow,
                   msg_rate_max=config.disco_msg_rate_max,
                   worker_reuse=config.disco_worker_reuse,
                   reuse_idle=config.disco_worker_reuse_idle)


class WorkerProcess(Protocol):
    """A started worker: its pid, the node's ends of its pipes (raw file descriptors, which
    the supervisor owns and closes), and its exit status."""

    pid: int
    stdin_fd: int    # write end of the worker's stdin
    output_fd: int   # read end of the worker's stdout + stderr
    stdin: asyncio.StreamWriter | None   # set by `attach_streams` only
    stdout: asyncio.StreamReader | None

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


class Launcher(Protocol):
    """Starts a worker executable in a new session; see `ExecLauncher`."""

    async def spawn(self, argv: list[str], cwd: str, env: dict[str, str]) -> WorkerProcess: ...


class ExecWorker:
    """An exec'd worker: the `WorkerProcess` interface over an asyncio subprocess."""

    stdin: asyncio.StreamWriter | None = None
    stdout: asyncio.StreamReader | None = None

    def __init__(self, process: asyncio.subprocess.Process, stdin_fd: int,
                 output_fd: int) -> None:
        self._process = process
        self.pid, self.stdin_fd, self.output_fd = process.pid, stdin_fd, output_fd

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> int:
        return await self._process.wait()


class ExecLauncher:
    """exec a fresh process per task (`asyncio.create_subprocess_exec`, new session).

    Disco ran `nice -n 19 <worker>`; we exec the worker directly: `nice` would cost one more
    process start per task, and the node's own niceness is the operator's choice.
    """

    def __init__(self, users: Any = None) -> None:
        self.users = users  # disco.node.workeruser.WorkerUsers: DISCO_WORKER_USER

    async def spawn(self, argv: list[str], cwd: str, env: dict[str, str]) -> ExecWorker:
        identity = {}
        if self.users is not None:
            who = await asyncio.to_thread(self.users.identity, cwd)
            identity = {"user": who.uid, "group": who.gid, "extra_groups": []}
        stdin_r, stdin_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=env, stdin=stdin_r, stdout=out_w,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True, close_fds=True,
                **identity)
        except BaseException:
            os.close(stdin_w)
            os.close(out_r)
            raise
        finally:
            os.close(stdin_r)
            os.close(out_w)
        return ExecWorker(process, stdin_w, out_r)

    async def launch(self, argv: list[str], cwd: str, env: dict[str, str]) -> ExecWorker:
        """`spawn` with the pipes as asyncio streams (`.stdin`, `.stdout`)."""
        return await attach_streams(await self.spawn(argv, cwd, env))


async def attach_streams(process: Any) -> Any:
    """Wrap a spawned worker's pipes in asyncio streams, for callers that read its output as
    a stream (the supervisor uses `WorkerPipes` instead: no reader task, no drain)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_READ_SIZE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                 os.fdopen(process.output_fd, "rb", 0))
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(process.stdin_fd, "wb", 0))
    process.stdout = reader
    process.stdin = asyncio.StreamWriter(transport, protocol, None, loop)
    return process


class WorkerPipes:
    """The node's ends of one worker's pipes, served by event-loop callbacks (no tasks).

    `on_data(chunk)` gets the worker's output as it arrives and `on_end()` its end; `write`
    sends a reply at once (replies are small; what the pipe cannot take yet is buffered and
    written when it drains).
    """

    def __init__(self, process: WorkerProcess, on_data: Callable[[bytes], None],
                 on_end: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._output_fd, self._stdin_fd = process.output_fd, process.stdin_fd
        self._on_data, self._on_end = on_data, on_end
        self._unsent = bytearray()
        self._reading = False

    def start(self) -> None:
        if self._reading:  # a reused worker's pipes: still watched since its last task
            return
        os.set_blocking(self._output_fd, False)
        os.set_blocking(self._stdin_fd, False)
        self._loop.add_reader(self._output_fd, self._read)
        self._reading = True

    def rebind(self, on_data: Callable[[bytes], None], on_end: Callable[[], None]) -> None:
        """Hand the output to other callbacks, still watched: a worker that is parked
        and reused keeps one reader registration (an epoll_ctl pair less per task)."""
        self._on_data, self._on_end = on_data, on_end

    def _read(self) -> None:
        try:
            chunk = os.read(self._output_fd, _READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("worker output pipe: %s", exc)
            chunk = b""
        if chunk:
            self._on_data(chunk)
            return
        self.stop_reading()
        self._on_end()

    @property
    def unsent(self) -> bool:
        """True while a reply waits for the pipe to drain."""
        return bool(self._unsent)

    def stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._output_fd)

    def write(self, data: bytes) -> None:
        if self._stdin_fd < 0:
            return
        if self._unsent:
            self._unsent += data
            return
        try:
            sent = os.write(self._stdin_fd, data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:  # the worker closed its stdin (or exited): nobody to answer
            log.debug("worker stdin: %s", exc)
            return
        if sent < len(data):
            self._unsent += data[sent:]
            self._loop.add_writer(self._stdin_fd, self._drain)

    def _drain(self) -> None:
        try:
            sent = os.write(self._stdin_fd, self._unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("worker stdin: %s", exc)
            sent = len(self._unsent)
        del self._unsent[:sent]
        if not self._unsent:
            self._loop.remove_writer(self._stdin_fd)

    def close(self) -> None:
        """Stop watching and close both pipes (the worker sees EOF on its stdin)."""
        self.stop_reading()
        if self._stdin_fd >= 0:
            if self._unsent:
                self._loop.remove_writer(self._stdin_fd)
                self._unsent.clear()
            os.close(self._stdin_fd)
            self._stdin_fd = -1
        if self._output_fd >= 0:
            os.close(self._output_fd)
            self._output_fd = -1


def worker_base_env(environ: dict[str, str] | None = None,
                    cluster: dict[str, str] | None = None) -> dict[str, str]:
    """The node's environment minus Disco's settings, plus ``cluster``: the settings that
    say where this cluster is (master, ports, data directories; what TASK carries too).

    A worker that reads its settings from the environment -- Disco's own worker does,
    through ``DiscoSettings()`` -- then finds this cluster's ports and directories instead
    of Disco's defaults; no other setting of the node reaches a job."""
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if not k.startswith(("DISCO_", "DDFS_"))}
    env.update(cluster or {})
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
        self._decoder = framing.Decoder()
        self._process: WorkerProcess | None = None
        self._pipes: WorkerPipes | None = None
        #: the worker session's outcome: a Stop, or None when its output ended early
        self._over: asyncio.Future[Stop | None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._held: deque[tuple[float, bytes]] = deque()  # replies behind a delayed OK
        self._held_timer: asyncio.TimerHandle | None = None
        self._deferred: Any = None
        self._killed = False
        #: this worker may be parked after DONE (reuse on); `_late`: it wrote after DONE
        self._reusing = False
        self._late = False
        self._started = 0.0
        self._last_data = 0.0
        self._exited_at: float | None = None
        self._last_words: bytearray | None = None
        self.results: list = []

    # ---- orders from the master -----------------------------------------------------------

    def add_inputs(self, inputs: list, done: bool) -> None:
        self.session.add_inputs(inputs, done)
        if self._deferred is not None and self._talking():
            reply = self.session.answer_input(self._deferred)
            if reply is not None:
                self._deferred = None
                self._reply(reply)

    def kill(self) -> None:
        """Stop the worker without reporting (the master asked, or lost this node)."""
        self._killed = True
        if self._process is not None:
            kill_process_group(self._process.pid)
        self._end(Stop(KIND_KILLED))

    # ---- the run ------------------------------------------------------------------------

    async def run(self) -> None:
        job, task, attempt = self.key
        try:
            home = await self._jobhomes.ensure(job, self.spec["jobpack"], self.spec["worker"])
        except Exception as exc:  # any failure to get the job home fails this attempt only
            log.warning("job %s: job home failed: %s", job, exc)
            # an escaping job home fails the same way on every retry: the job is fatal
            kind = KIND_FATAL if isinstance(exc, JobHomeEscape) else KIND_ERROR
            self._report(Stop(kind, f"Jobpack extraction failed: {exc}"))
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
        loop = asyncio.get_running_loop()
        started = loop.time()
        reuse = self._reuse_key(argv, home, env)
        process = None
        if reuse is not None:
            env[REUSE_VARIABLE] = "1"
            process = self._launcher.take_idle(reuse)
        reused = process is not None
        self._reusing = reuse is not None
        if process is None:
            try:
                process = await self._launcher.spawn(argv, home.path, env)
            except OSError as exc:
                return Stop(KIND_ERROR, f"Could not start the worker {argv[0]}: {exc}")
        self._process = process
        log.debug("task %s: worker pid %d %s in %.1f ms", self.key, process.pid,
                  "reused" if reused else "started", (loop.time() - started) * 1000)
        self._pipes = getattr(process, "pipes", None) if reused else None
        if self._pipes is None:
            self._pipes = WorkerPipes(process, self._on_output, self._on_output_end)
        else:
            self._pipes.rebind(self._on_output, self._on_output_end)
        outcome: Stop | None = None
        try:
            if self._killed:  # a kill order that arrived while the process was starting
                outcome = Stop(KIND_KILLED)
                return outcome
            over = self._watch(loop, started)
            if reused:
                self._pipes.write(self._next_frame(process.pid))
            outcome = await over
            if outcome is None:
                outcome = await self._crashed()
            return outcome
        finally:
            if not (reuse is not None and outcome is not None and outcome.kind == KIND_DONE
                    and self._park(reuse)):
                await self._stop_process()

    def _reuse_key(self, argv: list[str], home: JobHome, env: dict[str, str]) -> Any:
        """The key parked workers of this job are found by, or None when this task's worker
        is not to be reused: reuse off for the cluster or the job (its jobenvs say
        ``DISCO_WORKER_REUSE=0``), or not one of our forked Python workers (other workers and
        Disco's own keep the one-process-per-task protocol)."""
        if not self.config.worker_reuse or self.config.reuse_idle <= 0:
            return None
        if str(home.jobenvs.get(REUSE_VARIABLE, "1")).lower() in _REUSE_OFF:
            return None
        reusable = getattr(self._launcher, "reusable", None)
        if reusable is None or not reusable(argv[0], home.path, env):
            return None
        return (home.path, argv[0])

    def _next_frame(self, pid: int) -> bytes:
        """``NEXT`` with the task's TASK payload: the parked worker starts the task without
        WORKER and TASK (the node knows its pid), two round trips fewer per reused task."""
        self.session.adopt(pid)
        return framing.encode("NEXT", self.info.task_reply())

    def _park(self, key: Any) -> bool:
        """After DONE: leave the worker running, waiting for its next task, if nothing of this
        session is left in the pipes. False: stop it as usual."""
        process, pipes = self._process, self._pipes
        assert process is not None and pipes is not None
        if (self._killed or self._late or process.returncode is not None or self._held
                or pipes.unsent or self._decoder.pending or self._last_words is not None):
            return False
        self._cancel_timers()
        process.pipes = pipes  # the launcher watches them while the worker is parked
        return self._launcher.park(key, process, self.config.reuse_idle)

    def _watch(self, loop: asyncio.AbstractEventLoop, started: float) -> asyncio.Future:
        """Start serving the worker; the future resolves when its session is over."""
        assert self._pipes is not None
        self._over = loop.create_future()
        self._started = self._last_data = started
        self._pipes.start()
        self._arm_timer(started + min(self.config.poll_interval, self.config.start_timeout))
        return self._over

    async def _stop_process(self) -> None:
        process = self._process
        assert process is not None and self._pipes is not None
        kill_process_group(process.pid)
        self._quiet()
        self._pipes.close()
        if await _exit_status(process, self.config.exit_grace + 5) is None:
            log.warning("task %s: worker %d did not go away after SIGKILL", self.key,
                        process.pid)

    def _talking(self) -> bool:
        """True while the worker's messages are being answered."""
        return self._over is not None and not self._over.done() and self._last_words is None

    def _end(self, outcome: Stop | None) -> None:
        """The worker's session is over: wake `_run_worker` (the first outcome wins)."""
        over = self._over
        if over is not None and not over.done():
            over.set_result(outcome)
        if (self._reusing and outcome is not None and outcome.kind == KIND_DONE
                and self._pipes is not None):
            # it may be parked: keep its pipe watched, but not by this session any more
            self._pipes.rebind(self._on_late_output, self._on_late_end)
            self._cancel_timers()
        else:
            self._quiet()

    def _on_late_output(self, _data: bytes) -> None:
        """The worker wrote after DONE: it is not parked (`_park`)."""
        self._late = True
        if self._pipes is not None:
            self._pipes.stop_reading()

    def _on_late_end(self) -> None:
        self._late = True

    def _quiet(self) -> None:
        """No more output handling, deadlines or held replies for this worker."""
        if self._pipes is not None:
            self._pipes.stop_reading()
        self._cancel_timers()

    def _cancel_timers(self) -> None:
        for timer in (self._timer, self._held_timer):
            if timer is not None:
                timer.cancel()

    # ---- deadlines (one timer per task) ---------------------------------------------------

    def _arm_timer(self, when: float) -> None:
        self._timer = asyncio.get_running_loop().call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        """Check the deadline due now; re-arm for the next one (data does not move the timer:
        it fires at the earliest time a deadline could have passed and looks again)."""
        now = asyncio.get_running_loop().time()
        if self._last_words is not None:
            self._end(self._last_words_outcome())
            return
        warning, deadline = self._deadline()
        if deadline is not None and now >= deadline:
            self._end(self._warn(warning))
            return
        if self._exited_with_output_open(now):
            self._end(None)
            return
        next_check = now + self.config.poll_interval
        self._arm_timer(next_check if deadline is None else min(next_check, deadline))

    def _deadline(self) -> tuple[str, float | None]:
        """The deadline that applies now, and the warning if it passes."""
        if self.session.worker_pid is None:
            return (f"Worker did not send its PID in {self.config.start_timeout:g} seconds",
                    self._started + self.config.start_timeout)
        if self._decoder.mid_message:
            return ("Worker stuck in the middle of a message",
                    self._last_data + self.config.message_timeout)
        return "", None

    def _exited_with_output_open(self, now: float) -> bool:
        """A worker that exited while something (a grandchild) keeps its pipe open: give the
        output `exit_grace` seconds to end, then call it a crash."""
        assert self._process is not None
        if self._exited_at is None and self._process.returncode is not None:
            self._exited_at = now
        return self._exited_at is not None and now - self._exited_at >= self.config.exit_grace

    # ---- the worker's output --------------------------------------------------------------

    def _on_output(self, data: bytes) -> None:
        self._last_data = asyncio.get_running_loop().time()
        if self._last_words is not None:
            self._collect_last_words(data)
            return
        try:
            messages = self._decoder.feed(data)
        except framing.FramingError as exc:
            self._event("WARNING", f"Could not parse worker event: {exc.kind}")
            self._start_last_words(self._decoder.pending)
            return
        for index, (name, body) in enumerate(messages):
            if not is_message_name(name):
                rest = b"".join(_frame(n, b) for n, b in messages[index:])
                self._event("WARNING", "Could not parse worker event: invalid_type")
                self._start_last_words(rest + self._decoder.pending)
                return
            outcome = self._handle(name, body)
            if outcome is not None:
                self._end(outcome)
                return

    def _on_output_end(self) -> None:
        if self._last_words is not None:
            self._end(self._last_words_outcome())
        else:
            self._end(None)  # before DONE, ERROR or FATAL: `_crashed` reports it

    def _handle(self, name: str, body: bytes) -> Stop | None:
        result = self.session.handle(name, body)
        self._flush_session_reports()
        if isinstance(result, Reply):
            self._reply(result)
            return None
        if isinstance(result, Defer):
            self._deferred = result.request
            return None
        if result.warn:
            self._event("WARNING", result.message)
        return result

    # ---- replies ------------------------------------------------------------------------

    def _reply(self, reply: Reply) -> None:
        data = _ENCODED_OK.get(reply.payload) if reply.name == "OK" else None
        if data is None:
            data = framing.encode(reply.name, reply.payload)
        if reply.delay or self._held:
            self._hold(reply.delay, data)
        elif self._pipes is not None:
            self._pipes.write(data)

    def _hold(self, delay: float, data: bytes) -> None:
        """A rate-limited reply: it, and every reply after it, waits its turn (order kept)."""
        self._held.append((delay, data))
        if len(self._held) == 1:
            self._held_timer = asyncio.get_running_loop().call_later(delay, self._release)

    def _release(self) -> None:
        """Write the held reply that is due, and those after it up to the next delayed one."""
        self._held_timer = None
        assert self._pipes is not None
        _delay, data = self._held.popleft()
        self._pipes.write(data)
        while self._held and not self._held[0][0]:
            self._pipes.write(self._held.popleft()[1])
        if self._held:
            self._held_timer = asyncio.get_running_loop().call_later(self._held[0][0],
                                                                     self._release)

    # ---- protocol violations and crashes ------------------------------------------------

    def _start_last_words(self, words: bytes) -> None:
        """After a framing error: collect more output for a while, then fail the task."""
        self._last_words = bytearray(words)
        if self._timer is not None:
            self._timer.cancel()
        if len(self._last_words) >= self.config.last_words_max:
            self._end(self._last_words_outcome())
            return
        self._arm_timer(asyncio.get_running_loop().time() + self.config.last_words_timeout)

    def _collect_last_words(self, data: bytes) -> None:
        assert self._last_words is not None
        self._last_words += data
        if len(self._last_words) >= self.config.last_words_max:
            self._end(self._last_words_outcome())

    def _last_words_outcome(self) -> Stop:
        words = bytes(self._last_words or b"")
        return Stop(KIND_ERROR, last_words_message(words, self.config.last_words_max))

    async def _crashed(self) -> Stop:
        """The worker's output ended (or it exited) before DONE, ERROR or FATAL."""
        process = self._process
        assert process is not None
        code = await _exit_status(process, self.config.exit_grace)
        if code is None:
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
            self._send(cluster.task_done(job, task, attempt, self.results,
                                         counters=self.session.counters))
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


async def _exit_status(process: WorkerProcess, timeout: float) -> int | None:
    """The worker's exit status, or None if it has not exited within `timeout` seconds
    (`asyncio.timeout`, not `wait_for`: no task per wait)."""
    try:
        async with asyncio.timeout(timeout):
            return await process.wait()
    except TimeoutError:
        return None
