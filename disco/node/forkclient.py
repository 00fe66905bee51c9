"""The node's side of the fork server (`disco.node.forkserver`): start it, ask it to fork
workers, learn their exits.

Layer 2 (`disco.node`). `ForkLauncher` is the supervisor's `Launcher`: `# disco-python-worker`
executables whose environment a fork can reproduce are forked by the server (or by their job's
zygote); everything else is exec'd by the fallback launcher. Either way the supervisor gets the
node's ends of the worker's pipes as raw file descriptors (`disco.node.supervisor.WorkerPipes`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from typing import Any

from disco.node.forkserver import (
    _PACKET,
    LOADER_VARIABLES,
    STARTUP_VARIABLES,
    ZYGOTE_IDLE,
    forkable_env,
    is_python_worker,
)
from disco.node.supervisor import attach_streams, kill_process_group

log = logging.getLogger(__name__)

#: the environment variables `forkable_env` looks at
_FORK_VARIABLES = STARTUP_VARIABLES + LOADER_VARIABLES
#: jobs whose fork decision is remembered (a job's tasks share executable and environment)
_FORKABLE_CACHE_SIZE = 256


class ForkedWorker:
    """A worker forked by the server: the `WorkerProcess` interface of the supervisor."""

    stdin: asyncio.StreamWriter | None = None
    stdout: asyncio.StreamReader | None = None

    def __init__(self, pid: int, stdin_fd: int, output_fd: int) -> None:
        self.pid, self.stdin_fd, self.output_fd = pid, stdin_fd, output_fd
        self.returncode: int | None = None
        #: the supervisor's `WorkerPipes` of a parked worker (they own the fds then)
        self.pipes: Any = None
        self._waiters: list[asyncio.Future] = []

    def exited(self, status: int) -> None:
        """The fork server reported the worker's end (status as `Popen.returncode`)."""
        if self.returncode is None:
            self.returncode = status
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(self.returncode)
        self._waiters.clear()

    async def wait(self) -> int:
        if self.returncode is not None:
            return self.returncode
        # a future per wait: a timed-out (cancelled) wait cancels only its own
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter


class ForkServerClient:
    """The node's handle on one fork server process (started on first use)."""

    def __init__(self, env: dict[str, str], zygote_idle: float = 0.0) -> None:
        self.env = env
        self.zygote_idle = zygote_idle
        self._process: asyncio.subprocess.Process | None = None
        self._sock: socket.socket | None = None
        #: the reply to the one fork request in flight (the lock keeps it to one)
        self._reply: asyncio.Future[dict] | None = None
        self._orphans = 0  # replies still due to requests whose fork was cancelled
        self._last_env: tuple[dict[str, str], str] = ({}, "{}")  # an env and its JSON
        self._exits: dict[int, ForkedWorker] = {}   # running workers by pid
        self._early_exits: dict[int, int] = {}
        self._lock = asyncio.Lock()
        # one receive buffer: `recv(_PACKET)` would map and unmap a megabyte per packet
        self._packet = bytearray(_PACKET)

    async def start(self) -> None:
        node_end, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "disco.node.forkserver", str(server_end.fileno()),
            str(self.zygote_idle), pass_fds=[server_end.fileno()], env=self.env,
            stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
        server_end.close()
        node_end.setblocking(False)
        self._sock = node_end
        asyncio.get_running_loop().add_reader(node_end.fileno(), self._on_readable)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None \
            and self._sock is not None

    def _on_readable(self) -> None:
        assert self._sock is not None
        try:
            size = self._sock.recv_into(self._packet)
        except BlockingIOError:
            return
        except OSError:
            size = 0
        if not size:
            self._lost()
            return
        message = json.loads(self._packet[:size])
        if "exit" in message:
            self._on_exit(message["exit"], message["status"])
        else:
            self._answer(message)

    def _on_exit(self, pid: int, status: int) -> None:
        worker = self._exits.pop(pid, None)
        if worker is None:  # before `fork` saw the pid
            self._early_exits[pid] = status
        else:
            worker.exited(status)

    def _answer(self, message: dict) -> None:
        if self._orphans:  # replies come in order: this one's fork was cancelled
            self._orphans -= 1
            if "pid" in message:
                kill_process_group(message["pid"])
        elif self._reply is not None and not self._reply.done():
            self._reply.set_result(message)
        else:
            log.warning("fork server reply without a request: %s", message)

    def _lost(self) -> None:
        """The server died: its children's exit codes are unknown (report SIGKILL)."""
        log.warning("fork server exited; Python workers fall back to exec until it restarts")
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        for worker in self._exits.values():
            worker.exited(-signal.SIGKILL)
        self._exits.clear()
        self._orphans = 0
        self._answer({"error": "fork server exited"})

    async def fork(self, argv: list[str], cwd: str, env: dict[str, str]) -> ForkedWorker:
        async with self._lock:
            if not self.alive:
                await self.start()
            stdin_r, stdin_w = os.pipe()
            out_r, out_w = os.pipe()
            try:
                reply = await self._request(argv, cwd, env, [stdin_r, out_w])
            except BaseException:
                os.close(stdin_w)
                os.close(out_r)
                raise
        if "pid" not in reply:
            os.close(stdin_w)
            os.close(out_r)
            raise OSError(f"fork server: {reply.get('error')}")
        worker = ForkedWorker(reply["pid"], stdin_w, out_r)
        self._watch_exit(worker)
        return worker

    async def _request(self, argv: list[str], cwd: str, env: dict[str, str],
                       fds: list[int]) -> dict:
        """Send one fork request with the child's ends of its pipes (closed here once sent);
        the server's reply."""
        assert self._sock is not None
        self._reply = asyncio.get_running_loop().create_future()
        try:
            request = self._encode_request(argv, cwd, env)
            socket.send_fds(self._sock, [request], fds)
        finally:
            for fd in fds:
                os.close(fd)
        try:
            return await self._reply
        except asyncio.CancelledError:
            if self._reply.cancelled():  # its reply is still to come
                self._orphans += 1
            raise

    def _encode_request(self, argv: list[str], cwd: str, env: dict[str, str]) -> bytes:
        """`{"argv", "cwd", "env"}` as JSON; a job's tasks share one environment, so the
        last one's encoding is reused while it stays equal (the bulk of the request)."""
        last_env, env_json = self._last_env
        if env != last_env:
            env_json = json.dumps(env)
            self._last_env = (dict(env), env_json)
        head = f'{{"argv": {json.dumps(argv)}, "cwd": {json.dumps(cwd)}, "env": '
        return f"{head}{env_json}}}".encode()

    def _watch_exit(self, worker: ForkedWorker) -> None:
        status = self._early_exits.pop(worker.pid, None)
        if status is None:
            self._exits[worker.pid] = worker
        else:
            worker.exited(status)

    def forget(self, cwd: str) -> None:
        """The job of job home `cwd` is gone: its zygote (if any) exits after its tasks."""
        if self.alive:
            assert self._sock is not None
            try:
                self._sock.send(json.dumps({"forget": cwd}).encode())
            except OSError:  # a full or lost socket: the zygote's idle timeout ends it
                pass

    async def close(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()


class ForkLauncher:
    """Fork `# disco-python-worker` executables from the fork server; exec everything else."""

    def __init__(self, fallback: Any, server_env: dict[str, str] | None = None,
                 zygote_idle: float = ZYGOTE_IDLE) -> None:
        self.fallback = fallback
        self.server_env = dict(os.environ if server_env is None else server_env)
        self._client = ForkServerClient(self.server_env, zygote_idle)
        self._forkable: dict[tuple, bool] = {}
        #: parked workers (worker reuse): key -> [(worker, expiry timer)], oldest first
        self._idle: dict[Any, list[tuple[ForkedWorker, asyncio.TimerHandle]]] = {}

    async def spawn(self, argv: list[str], cwd: str, env: dict[str, str]) -> Any:
        if self._can_fork(argv[0], cwd, env):
            try:
                return await self._client.fork(argv, cwd, env)
            except OSError as exc:
                log.warning("fork server failed (%s): exec'ing %s", exc, argv[0])
        return await self.fallback.spawn(argv, cwd, env)

    async def launch(self, argv: list[str], cwd: str, env: dict[str, str]) -> Any:
        """`spawn` with the pipes as asyncio streams (`.stdin`, `.stdout`)."""
        return await attach_streams(await self.spawn(argv, cwd, env))

    def _can_fork(self, executable: str, cwd: str, env: dict[str, str]) -> bool:
        """Whether a fork reproduces what exec'ing `executable` would; remembered per job home
        and the variables the answer depends on (it reads the executable and lists the job's
        library directories: a job home does not change once extracted)."""
        key = (executable, cwd, tuple(env.get(name) for name in _FORK_VARIABLES))
        forkable = self._forkable.get(key)
        if forkable is None:
            if len(self._forkable) >= _FORKABLE_CACHE_SIZE:
                self._forkable.clear()
            forkable = is_python_worker(executable) and forkable_env(env, self.server_env, cwd)
            self._forkable[key] = forkable
        return forkable

    def forget_job(self, jobhome: str) -> None:
        """The job whose home is `jobhome` was purged or killed: end its zygote and its
        parked workers."""
        self._forkable = {key: value for key, value in self._forkable.items()
                          if key[1] != jobhome}
        for key in [key for key in self._idle if key[0] == jobhome]:
            for worker, timer in self._idle.pop(key):
                timer.cancel()
                _end_parked(worker)
        self._client.forget(jobhome)

    # ---- worker reuse (our Python workers; `TaskRunner._park`) ---------------------------

    def reusable(self, executable: str, cwd: str, env: dict[str, str]) -> bool:
        """Only workers the fork server starts (our `# disco-python-worker` launcher) know
        how to wait for a next task; everything else is exec'd and stopped after each task."""
        return self._can_fork(executable, cwd, env)

    def park(self, key: Any, worker: Any, idle: float) -> bool:
        """Keep a worker that sent DONE for the next task of the same job (`key`) for up to
        `idle` seconds; a bloated one (RSS above `PARK_MAX_RSS`) is not kept."""
        if not isinstance(worker, ForkedWorker) or _rss(worker.pid) > PARK_MAX_RSS:
            return False
        if sum(map(len, self._idle.values())) >= PARK_MAX:
            self._evict_oldest()
        loop = asyncio.get_running_loop()
        timer = loop.call_later(idle, self._expire, key, worker)
        self._idle.setdefault(key, []).append((worker, timer))
        if worker.pipes is not None:
            # a parked worker has nothing to say: output or EOF means it is no use any more
            worker.pipes.rebind(lambda _data: self._expire(key, worker),
                                lambda: self._expire(key, worker))
        return True

    def take_idle(self, key: Any) -> ForkedWorker | None:
        """A parked, still running worker of the job `key` (most recently parked: its pages
        are the warmest), or None."""
        parked = self._idle.get(key)
        while parked:
            worker, timer = parked.pop()
            timer.cancel()
            if worker.returncode is None:
                if not parked:
                    del self._idle[key]
                return worker
            _end_parked(worker)
        self._idle.pop(key, None)
        return None

    def _expire(self, key: Any, worker: ForkedWorker) -> None:
        """End a parked worker (idle too long, or it wrote or closed its output)."""
        parked = self._idle.get(key, [])
        for index, (candidate, timer) in enumerate(parked):
            if candidate is worker:
                del parked[index]
                timer.cancel()
                break
        else:
            return  # taken for a task (or ended) already
        if not parked:
            self._idle.pop(key, None)
        _end_parked(worker)

    def _evict_oldest(self) -> None:
        key = next(iter(self._idle))
        worker, timer = self._idle[key].pop(0)
        timer.cancel()
        if not self._idle[key]:
            del self._idle[key]
        _end_parked(worker)

    async def close(self) -> None:
        for parked in self._idle.values():
            for worker, timer in parked:
                timer.cancel()
                _end_parked(worker)
        self._idle.clear()
        await self._client.close()


#: parked workers kept at most (all jobs), and the largest resident size worth keeping
PARK_MAX = 64
PARK_MAX_RSS = 512 << 20
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _end_parked(worker: ForkedWorker) -> None:
    """Stop a parked worker: SIGKILL its session and close the node's ends of its pipes
    (its exit is reported by the fork server as any other)."""
    kill_process_group(worker.pid)
    if worker.pipes is not None:
        worker.pipes.close()
        return
    for fd in (worker.stdin_fd, worker.output_fd):
        try:
            os.close(fd)
        except OSError:
            pass
