"""The node's side of the fork server (`disco.node.forkserver`): start it, ask it to fork
workers, learn their exits.

Layer 2 (`disco.node`). `ForkLauncher` is the supervisor's `Launcher`: `# disco-python-worker`
executables whose environment a fork can reproduce are forked by the server (or by their job's
zygote); everything else is exec'd by the fallback launcher.
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

from disco.node.forkserver import _PACKET, ZYGOTE_IDLE, forkable_env, is_python_worker

log = logging.getLogger(__name__)

class ForkedWorker:
    """A worker forked by the server: the `WorkerProcess` interface of the supervisor."""

    def __init__(self, pid: int, stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader,
                 exited: asyncio.Future) -> None:
        self.pid, self.stdin, self.stdout = pid, stdin, stdout
        self._exited = exited

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)


class ForkServerClient:
    """The node's handle on one fork server process (started on first use)."""

    def __init__(self, env: dict[str, str], zygote_idle: float = 0.0) -> None:
        self.env = env
        self.zygote_idle = zygote_idle
        self._process: asyncio.subprocess.Process | None = None
        self._sock: socket.socket | None = None
        self._replies: asyncio.Queue[dict] = asyncio.Queue()
        self._exits: dict[int, asyncio.Future] = {}
        self._early_exits: dict[int, int] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        node_end, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "disco.node.forkserver", str(server_end.fileno()),
            str(self.zygote_idle), pass_fds=[server_end.fileno()], env=self.env, stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True)
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
            data = self._sock.recv(_PACKET)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost()
            return
        message = json.loads(data)
        if "exit" in message:
            future = self._exits.pop(message["exit"], None)
            if future is None:
                self._early_exits[message["exit"]] = message["status"]
            elif not future.done():
                future.set_result(message["status"])
        else:
            self._replies.put_nowait(message)

    def _lost(self) -> None:
        """The server died: its children's exit codes are unknown (report SIGKILL)."""
        log.warning("fork server exited; Python workers fall back to exec until it restarts")
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        for future in self._exits.values():
            if not future.done():
                future.set_result(-signal.SIGKILL)
        self._exits.clear()
        self._replies.put_nowait({"error": "fork server exited"})

    async def fork(self, argv: list[str], cwd: str, env: dict[str, str]) -> ForkedWorker:
        async with self._lock:
            if not self.alive:
                await self.start()
            loop = asyncio.get_running_loop()
            stdin_r, stdin_w = os.pipe()
            out_r, out_w = os.pipe()
            try:
                assert self._sock is not None
                request = json.dumps({"argv": argv, "cwd": cwd, "env": env}).encode()
                socket.send_fds(self._sock, [request], [stdin_r, out_w])
            finally:
                os.close(stdin_r)
                os.close(out_w)
            reply = await self._replies.get()
        if "pid" not in reply:
            os.close(stdin_w)
            os.close(out_r)
            raise OSError(f"fork server: {reply.get('error')}")
        pid = reply["pid"]
        exited = loop.create_future()
        if pid in self._early_exits:
            exited.set_result(self._early_exits.pop(pid))
        else:
            self._exits[pid] = exited
        stdout = asyncio.StreamReader(limit=_PACKET)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdout),
                                     os.fdopen(out_r, "rb", 0))
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.streams.FlowControlMixin(), os.fdopen(stdin_w, "wb", 0))
        stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        return ForkedWorker(pid, stdin, stdout, exited)

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

    async def launch(self, argv: list[str], cwd: str, env: dict[str, str]) -> Any:
        if is_python_worker(argv[0]) and forkable_env(env, self.server_env, cwd):
            try:
                return await self._client.fork(argv, cwd, env)
            except OSError as exc:
                log.warning("fork server failed (%s): exec'ing %s", exc, argv[0])
        return await self.fallback.launch(argv, cwd, env)

    def forget_job(self, jobhome: str) -> None:
        """The job whose home is `jobhome` was purged or killed: end its zygote."""
        self._client.forget(jobhome)

    async def close(self) -> None:
        await self._client.close()
