"""Fast start of Python workers: a pre-imported interpreter that forks one child per task.

Layer 2 (`disco.node`). A worker executable whose second line is `# disco-python-worker`
(the Python client's `disco-worker` launcher, docs/architecture.md) would spend most of its
start-up starting an interpreter and importing `disco.worker`. The node instead keeps one
*fork server* process (`python -m disco.node.forkserver FD`) that has imported those modules
once; for each task it forks a child that becomes exactly what an exec'd worker would be:
its own session/process group (`setsid`), stdin = the node's reply pipe, stdout and stderr =
one pipe to the node, cwd = job home, environment = the task's, `sys.argv`/`sys.path` as a
fresh `python3 <worker>` would have them, and the worker file run as `__main__`.
The worker protocol and per-task process isolation are unchanged.

Wire (a SOCK_SEQPACKET socket pair, one JSON object per packet):
node -> server `{"argv", "cwd", "env"}` + 2 fds (stdin, output); server -> node `{"pid"}` or
`{"error"}` for each request, in order, and `{"exit": pid, "status": code}` when a child ends
(code as `Popen.returncode`: negative = killed by that signal).

Jobs whose environment changes interpreter start-up variables (PYTHONHASHSEED, PYTHONHOME ...)
are exec'd as usual, since a forked child cannot change them.
"""
from __future__ import annotations

import asyncio
import atexit
import builtins
import gc
import importlib
import json
import logging
import os
import select
import signal
import socket
import sys
import traceback
import types
from typing import Any

log = logging.getLogger(__name__)

MARKER = b"# disco-python-worker"
_PACKET = 1 << 20
#: imported once by the server; user-independent modules of the Python worker
PRELOAD = ("disco.worker", "disco.worker.classic.worker", "disco.worker.pipeline.worker",
           "disco.task", "disco.util", "disco.fileutils", "disco.schemes", "cloudpickle",
           # unpickling a job object (`Task.jobobjs`) imports disco.job -> disco.core ->
           # urllib.request, http.client, email ...: 2/3 of a trivial task's time when done
           # after the fork (and all of it compiled from source under PYTHONDONTWRITEBYTECODE)
           "disco.job", "disco.core", "disco.worker.simple", "disco.eventmonitor", "pstats",
           # runpy.run_path imports pkgutil on every call
           "pkgutil",
           # the input schemes a task opens (`disco.schemes.import_scheme`): ~0.8 ms per task
           # each when imported after the fork
           "disco.schemes.scheme_raw", "disco.schemes.scheme_file", "disco.schemes.scheme_disco",
           "disco.schemes.scheme_dir", "disco.schemes.scheme_http", "disco.schemes.scheme_tag",
           "disco.schemes.scheme_url")
#: variables read only at interpreter start: a job that sets them differently gets exec'd
STARTUP_VARIABLES = ("PYTHONHASHSEED", "PYTHONHOME", "PYTHONOPTIMIZE", "PYTHONDONTWRITEBYTECODE",
                     "PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONWARNINGS", "PYTHONDEVMODE",
                     "PYTHONUTF8", "PYTHONNOUSERSITE", "PYTHONSAFEPATH", "PYTHONINSPECT",
                     "PYTHONVERBOSE", "PYTHONSTARTUP", "PYTHONMALLOC", "PYTHONUSERBASE",
                     "PYTHONPLATLIBDIR", "PYTHONINTMAXSTRDIGITS", "PYTHONFAULTHANDLER",
                     "PYTHONTRACEMALLOC", "PYTHONEXECUTABLE")
#: dynamic loader variables: read by ld.so at exec only
LOADER_VARIABLES = ("LD_LIBRARY_PATH", "LD_PRELOAD")


def is_python_worker(path: str) -> bool:
    """True when the executable's second line is the `# disco-python-worker` marker."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    lines = head.split(b"\n", 2)
    return len(lines) > 2 and lines[1].strip() == MARKER


def forkable_env(env: dict[str, str], server_env: dict[str, str], cwd: str = ".") -> bool:
    """True when `env` agrees with the server's on every interpreter start-up variable, and
    any loader path it adds (the client's `LD_LIBRARY_PATH=lib`) holds no shared library:
    the dynamic loader reads those only when a process is exec'd."""
    if any(env.get(name) != server_env.get(name) for name in STARTUP_VARIABLES):
        return False
    for name in LOADER_VARIABLES:
        value = env.get(name)
        if value != server_env.get(name) and value and _has_shared_libraries(value, cwd):
            return False
    return True


def _has_shared_libraries(search_path: str, cwd: str) -> bool:
    for entry in search_path.split(os.pathsep):
        directory = os.path.join(cwd, entry)
        try:
            if any(".so" in name for name in os.listdir(directory)):
                return True
        except OSError:
            continue
    return False


# ---- the server process -------------------------------------------------------------------

def serve(control: socket.socket) -> None:
    """The fork server's loop: fork on request, report exits, until the node goes away."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: set[int] = set()
    while True:
        readable, _, _ = select.select([control, wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 4096)
        _report_exits(control, children)
        if control in readable:
            message, fds, _flags, _addr = socket.recv_fds(control, _PACKET, 2)
            if not message:
                return
            request = json.loads(message)
            # the environment difference is computed here, once, on plain dicts: in the child
            # every object touched costs copy-on-write page faults
            request["env"] = _environ_changes(request["env"], _SERVER_ENV)
            pid = _fork_child(request, fds, control, (wake_r, wake_w))
            if pid:
                children.add(pid)


def _report_exits(control: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        control.send(json.dumps({"exit": pid, "status": code}).encode())


def _fork_child(request: dict, fds: list[int], control: socket.socket,
                private: tuple[int, int]) -> int:
    try:
        pid = os.fork()
    except OSError as exc:
        control.send(json.dumps({"error": str(exc)}).encode())
        for fd in fds:
            os.close(fd)
        return 0
    if pid == 0:  # the child never returns
        code = 1
        try:
            _become_worker(request, fds, control, private)
            code = _run_worker(request["argv"])
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
    control.send(json.dumps({"pid": pid}).encode())
    return pid


def _become_worker(request: dict, fds: list[int], control: socket.socket,
                   private: tuple[int, int]) -> None:
    """Turn the forked child into what `exec <worker>` would have started."""
    os.setsid()
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stdin_fd, output_fd = fds
    os.dup2(stdin_fd, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    for fd in (stdin_fd, output_fd, *private):
        os.close(fd)
    control.close()
    os.chdir(request["cwd"])
    _apply_environ_changes(request["env"])
    argv = request["argv"]
    sys.argv = list(argv)
    # as site.py does at start-up: PYTHONPATH entries made absolute against the cwd
    pythonpath = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                  if p]
    entries = [os.path.dirname(os.path.abspath(argv[0]))] + pythonpath + _BASE_PATH
    sys.path[:] = list(dict.fromkeys(entries))


def _environ_changes(env: dict[str, str], base: dict[str, str]) -> dict:
    """`{"set": {...}, "unset": [...]}` that turns the environment `base` into `env`
    (most of a task's environment is the server's: a putenv per variable would be waste)."""
    return {"set": {name: value for name, value in env.items() if base.get(name) != value},
            "unset": [name for name in base if name not in env]}


def _apply_environ_changes(changes: dict) -> None:
    for name in changes["unset"]:
        os.environ.pop(name, None)
    for name, value in changes["set"].items():
        os.environ[name] = value


def _forget_missing_paths() -> None:
    """Drop the import system's memory of path entries that do not exist (yet): a worker
    must look again. Called once in the server after preloading (it imports nothing
    afterwards), so children inherit a cache without such entries. Cached directory
    finders need nothing: they re-list a directory whenever its mtime changed (a full
    `importlib.invalidate_caches()` per child cost ~0.4 ms)."""
    cache = sys.path_importer_cache
    for path in [p for p, finder in cache.items() if finder is None]:
        del cache[path]


def _run_worker(argv: list[str]) -> int:
    try:
        _run_main(argv[0])
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:  # the interpreter's own top level: print it, exit 1
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # a failing flush (closed pipe) must not change the exit code
        pass
    return code


def _run_main(path: str) -> None:
    """Run the worker file as `python3 <path>` runs a script: as module `__main__` (it stays
    in `sys.modules`, as for a script). `runpy.run_path` did the same plus importer probing
    (zipimport opens the file as an archive) and module swapping: ~0.5 ms per task."""
    with open(path, "rb") as f:
        source = f.read()
    main_module = types.ModuleType("__main__")
    main_module.__file__ = path
    main_module.__builtins__ = builtins  # type: ignore[attr-defined]
    main_module.__cached__ = None  # type: ignore[attr-defined]
    main_module.__loader__ = None  # type: ignore[assignment]
    sys.modules["__main__"] = main_module
    exec(compile(source, path, "exec"), main_module.__dict__)


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


_BASE_PATH: list[str] = []
#: the server's environment at start (children's differences are computed against it)
_SERVER_ENV: dict[str, str] = {}


def main() -> None:
    """`python -m disco.node.forkserver FD`: FD is the control socket inherited from the node."""
    global _BASE_PATH, _SERVER_ENV
    control = socket.socket(fileno=int(sys.argv[1]))
    _SERVER_ENV = dict(os.environ)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional module only makes the fast path less fast
            pass
    # sys.path of a fresh interpreter minus its first entry (the script's directory)
    _BASE_PATH = list(sys.path[1:])
    _forget_missing_paths()
    # move the preloaded objects out of the collector's reach: a child's garbage collection
    # would otherwise walk (and so copy-on-write) every page of the pre-imported modules
    gc.collect()
    gc.freeze()
    serve(control)


# ---- the node side ------------------------------------------------------------------------

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

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
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
            pass_fds=[server_end.fileno()], env=self.env, stdin=asyncio.subprocess.DEVNULL,
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

    def __init__(self, fallback: Any, server_env: dict[str, str] | None = None) -> None:
        self.fallback = fallback
        self.server_env = dict(os.environ if server_env is None else server_env)
        self._client = ForkServerClient(self.server_env)

    async def launch(self, argv: list[str], cwd: str, env: dict[str, str]) -> Any:
        if is_python_worker(argv[0]) and forkable_env(env, self.server_env, cwd):
            try:
                return await self._client.fork(argv, cwd, env)
            except OSError as exc:
                log.warning("fork server failed (%s): exec'ing %s", exc, argv[0])
        return await self.fallback.launch(argv, cwd, env)

    async def close(self) -> None:
        await self._client.close()


if __name__ == "__main__":
    main()
