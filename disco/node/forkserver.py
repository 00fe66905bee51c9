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

Per-job zygotes (`ZYGOTE_IDLE` > 0, the node's `DISCO_NODE_ZYGOTE_IDLE`): on a job's first
task the server forks a *zygote* for that job home, which imports what the job's tasks import
(unpickles the job pack's jobdata, imports the worker's `required_modules`, with the job's
sys.path, cwd and environment), keeps what does not depend on the task (the unpickled job
objects, `disco.task.preload_jobobjs`; the worker's job-level set-up, `Worker.prepare_job`;
the compiled worker file; the tasks' sys.path) and then forks the job's tasks exactly as the
server would: each task is still its own process with its own pipes, session, cwd and
environment, and starts from a copy-on-write copy of the zygote, which never runs a task, so
no state passes from one task to the next. Requests go server -> zygote over a private
socket pair (`"env": null` when the task's environment is the zygote's first task's: the
usual case); replies and exit reports come back through the server, which thus knows a
zygote's running tasks (reported SIGKILL'd if the zygote dies).
A zygote stops forking when the node sends `{"forget": job home}` (job killed or purged) or
after `ZYGOTE_IDLE` seconds without a task, and exits once its running tasks have ended. A
job whose imports start threads gets no zygote (a fork of a threaded process can deadlock).
Differences from forking each task from the server: the job's module-level code, the
unpickling of its job objects and the worker's job-level set-up run once per job and node
(before the task's Disco settings are in the environment), and what they print goes to the
node's output, not to a task's.
"""
from __future__ import annotations

import _signal  # signal.signal minus its enum conversions: ~0.2 ms of page faults per child
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
import threading
import time
import traceback
import types
import warnings
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
#: the job pack's name in a job home (`disco.node.jobhome.JOBFILE`; not imported from there:
#: the server would import aiohttp with it)
JOBFILE = "jobfile"
#: seconds a job's zygote may stay unused before it exits (0: no zygotes)
ZYGOTE_IDLE = 30.0


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

class _Zygote:
    """The server's record of one job's zygote: its pid, its socket, its first task's
    environment, its live children, whether a fork request is waiting for its reply, and
    when it was last asked to fork."""

    def __init__(self, pid: int, sock: socket.socket, cwd: str, env: dict[str, str]) -> None:
        self.pid, self.sock, self.cwd, self.env = pid, sock, cwd, env
        self.children: set[int] = set()
        self.pending = False
        self.last_used = time.monotonic()


def serve(control: socket.socket, zygote_idle: float = 0.0) -> None:
    """The fork server's loop: fork on request, report exits, until the node goes away.
    With `zygote_idle` > 0 a request is handed to its job's zygote (started on the job's
    first task, retired after `zygote_idle` seconds unused or when the node forgets the job);
    the zygote's replies and exit reports are relayed to the node, so the server always knows
    which of a zygote's children still run."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: set[int] = set()
    zygotes: dict[str, _Zygote] = {}  # serving, by job home
    unfit: set[str] = set()  # job homes whose modules start threads: no zygote for them
    by_sock: dict[int, _Zygote] = {}  # serving and retiring, by socket fd
    while True:
        timeout = zygote_idle / 2 if zygotes else None
        readable, _, _ = select.select([control, wake_r, *by_sock], [], [], timeout)
        if wake_r in readable:
            os.read(wake_r, 4096)
        _report_exits(control, children)
        for fd in readable:
            if fd in by_sock:
                _relay_zygote(control, by_sock, zygotes, by_sock[fd], unfit)
        if zygote_idle:
            _retire_idle(zygotes, zygote_idle)
        if control in readable:
            message, fds, _flags, _addr = socket.recv_fds(control, _PACKET, 2)
            if not message:
                return
            request = json.loads(message)
            if "forget" in request:
                _retire(zygotes, request["forget"])
                unfit.discard(request["forget"])
                continue
            if zygote_idle and request["cwd"] not in unfit and _to_zygote(control, message, request, fds, zygotes, by_sock,
                                          (wake_r, wake_w)):
                continue
            # the environment difference is computed here, once, on plain dicts: in the child
            # every object touched costs copy-on-write page faults
            request["env"] = _environ_changes(request["env"], _SERVER_ENV)
            pid = _fork_child(request, fds, control, (wake_r, wake_w))
            if pid:
                children.add(pid)


def _report_exits(control: socket.socket, children: set[int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid not in children:  # a zygote: its end is seen on its socket
            continue
        children.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        control.send(b'{"exit": %d, "status": %d}' % (pid, code))  # json.dumps's, with less work


def _to_zygote(control: socket.socket, message: bytes, request: dict, fds: list[int],
               zygotes: dict[str, _Zygote], by_sock: dict[int, _Zygote],
               private: tuple[int, int]) -> bool:
    """Hand the fork request to its job's zygote (started now on the job's first task).
    False when no zygote could take it: the server forks the task itself."""
    cwd = request["cwd"]
    zygote = zygotes.get(cwd)
    if zygote is None:
        zygote = _start_zygote(request, control, private, by_sock, fds)
        if zygote is None:
            return False
        zygotes[cwd] = by_sock[zygote.sock.fileno()] = zygote
    if request["env"] == zygote.env:
        # the usual case: no environment for the zygote to parse and compare (each object
        # it allocates after a fork costs it copy-on-write faults); null = its first task's
        message = json.dumps({"argv": request["argv"], "cwd": cwd, "env": None}).encode()
    try:
        socket.send_fds(zygote.sock, [message], fds)
    except OSError:  # it died since: forget it, fork from the server
        _retire(zygotes, cwd)
        return False
    for fd in fds:
        os.close(fd)
    zygote.pending = True
    zygote.last_used = time.monotonic()
    return True


def _start_zygote(request: dict, control: socket.socket, private: tuple[int, int],
                  by_sock: dict[int, _Zygote], fds: list[int]) -> _Zygote | None:
    server_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        pid = os.fork()
    except OSError:
        server_end.close()
        zygote_end.close()
        return None
    if pid == 0:  # the zygote never returns
        code = 1
        try:
            # nothing of the server's but the zygote's own socket may stay open in it: a copy
            # of another zygote's socket would keep that one from ever seeing its end, a copy
            # of the request's pipes the node from seeing its task's output end
            for fd in (*private, control.fileno(), server_end.fileno(), *by_sock, *fds):
                os.close(fd)
            code = _zygote_main(zygote_end, request)
        except BaseException:  # noqa: BLE001 - a bug of the zygote's own: say so in the node's log
            traceback.print_exc()
        finally:
            os._exit(code)
    zygote_end.close()
    return _Zygote(pid, server_end, request["cwd"], request["env"])


def _relay_zygote(control: socket.socket, by_sock: dict[int, _Zygote],
                  zygotes: dict[str, _Zygote], zygote: _Zygote, unfit: set[str]) -> None:
    """Pass a zygote's `{"pid"}`/`{"error"}` reply or `{"exit"}` report on to the node.
    `{"unfit"}`: the zygote will not fork (see `_zygote_main`); the waiting task is exec'd
    by the node, the job's later tasks are forked by the server itself."""
    try:
        data = zygote.sock.recv(_PACKET)
    except OSError:
        data = b""
    if not data:
        _zygote_gone(control, by_sock, zygotes, zygote)
        return
    message = json.loads(data)
    if "unfit" in message:
        unfit.add(zygote.cwd)
        _retire(zygotes, zygote.cwd)
        zygote.pending = False
        data = json.dumps({"error": f"job zygote: {message['unfit']}"}).encode()
    elif "exit" in message:
        zygote.children.discard(message["exit"])
    else:
        zygote.pending = False
        if "pid" in message:
            zygote.children.add(message["pid"])
    control.send(data)


def _zygote_gone(control: socket.socket, by_sock: dict[int, _Zygote],
                 zygotes: dict[str, _Zygote], zygote: _Zygote) -> None:
    """A zygote's socket closed: normally after its last child's exit was reported. If it
    died instead, its tasks' exit codes are lost: kill them and report SIGKILL, as the node
    does for the children of a dead fork server, and fail a request it did not answer."""
    del by_sock[zygote.sock.fileno()]
    if zygotes.get(zygote.cwd) is zygote:
        del zygotes[zygote.cwd]
    zygote.sock.close()
    for pid in zygote.children:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        control.send(json.dumps({"exit": pid, "status": -signal.SIGKILL}).encode())
    if zygote.pending:
        control.send(json.dumps({"error": "job zygote exited"}).encode())


def _retire(zygotes: dict[str, _Zygote], cwd: str) -> None:
    """Tell the zygote of job home `cwd` to fork no more: it exits once its running tasks
    have ended (their exits are still reported, so only the write side is shut)."""
    zygote = zygotes.pop(cwd, None)
    if zygote is not None:
        try:
            zygote.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _retire_idle(zygotes: dict[str, _Zygote], idle: float) -> None:
    now = time.monotonic()
    for cwd, zygote in list(zygotes.items()):
        if not zygote.children and not zygote.pending and now - zygote.last_used > idle:
            _retire(zygotes, cwd)


# ---- a job's zygote -----------------------------------------------------------------------

def _zygote_main(sock: socket.socket, first: dict) -> int:
    """A job's zygote: import what the job's tasks import, then fork them from here.
    Each task is still its own forked process set up by `_become_worker`; only the imports
    are shared, as copy-on-write pages, like the server's own pre-imports."""
    global _SERVER_ENV
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    _prepare_job(first)
    if _has_threads():
        # a thread (started by the job's imports) may hold a lock at fork time that the
        # child would then wait on forever: fork only from single-threaded processes
        reason = "the job's modules started threads"
        sock.send(json.dumps({"unfit": reason}).encode())
        _refuse_requests(sock, reason)
        return 0
    # tasks' environment differences are now taken against the zygote's environment, and a
    # task with none (the usual case: the node gives every task of a job the same one) gets
    # the sys.path computed here, in the same cwd and environment, instead of its own
    _SERVER_ENV = dict(os.environ)
    _remember_task_path(first)
    first_changes = _environ_changes(first["env"], _SERVER_ENV)  # usually none
    children: set[int] = set()
    serving = True
    while serving or children:
        readable, _, _ = select.select([sock, wake_r] if serving else [wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 4096)
        try:
            _report_exits(sock, children)
        except OSError:  # the server is gone, and nobody to tell: init reaps the tasks
            return 0
        if sock in readable:
            message, fds, _flags, _addr = socket.recv_fds(sock, _PACKET, 2)
            if not message:  # retired (or the server is gone): finish the running tasks
                serving = False
                continue
            request = json.loads(message)
            env = request["env"]
            request["env"] = first_changes if env is None else _environ_changes(env, _SERVER_ENV)
            pid = _fork_child(request, fds, sock, (wake_r, wake_w))
            if pid:
                children.add(pid)
    return 0


def _refuse_requests(sock: socket.socket, reason: str) -> None:
    """An unfit zygote reads every request the server sent before it learnt so, until the
    server retires it: closing with requests unread would make the server's next read fail
    with ECONNRESET and lose the `unfit` reply. The first request was answered by `unfit`;
    each later one gets an error (the node then execs its task)."""
    answered = False
    while True:
        message, fds, _flags, _addr = socket.recv_fds(sock, _PACKET, 2)
        for fd in fds:
            os.close(fd)
        if not message:
            return
        if answered:
            sock.send(json.dumps({"error": f"job zygote: {reason}"}).encode())
        answered = True


def _prepare_job(request: dict) -> None:
    """Import the job's modules as its first task would: from its job home, with its
    environment and sys.path; the job objects are unpickled (importing every module they
    refer to) and kept (`disco.task.preload_jobobjs`: each forked task finds its own
    copy-on-write copy instead of unpickling the job again), the worker's `required_modules`
    imported and its job-level set-up done (`Worker.prepare_job`). A failure here is left
    for the tasks to meet and report."""
    try:
        _become_task_process(dict(request, env=_environ_changes(request["env"], _SERVER_ENV)))
        from disco.task import preload_jobobjs
        sys.dont_write_bytecode = True  # as `Worker.main`: job homes get no __pycache__
        job, jobargs = preload_jobobjs(os.path.join(request["cwd"], JOBFILE))
        worker = getattr(job, "worker", None)
        for module in _required_modules(worker):
            importlib.import_module(module)
        prepare = getattr(worker, "prepare_job", None)
        if prepare is not None:
            prepare(job, jobargs)
    except BaseException:  # whatever job code raises, the zygote still serves
        log.debug("job zygote: preparing %s failed", request["cwd"], exc_info=True)
    _forget_missing_paths()
    gc.collect()
    gc.freeze()


def _has_threads() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) > 1  # threads of C libraries count too
    except OSError:
        return threading.active_count() > 1


def _required_modules(worker: Any) -> list[str]:
    try:
        modules = worker["required_modules"] or ()
    except Exception:  # noqa: BLE001 - not a classic worker: nothing to import ahead
        return []
    return [m[0] if isinstance(m, (tuple, list)) else m for m in modules]


def _fork_child(request: dict, fds: list[int], control: socket.socket,
                private: tuple[int, int]) -> int:
    _compile_worker(request["argv"][0])
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
    control.send(b'{"pid": %d}' % pid)
    return pid


def _become_worker(request: dict, fds: list[int], control: socket.socket,
                   private: tuple[int, int]) -> None:
    """Turn the forked child into what `exec <worker>` would have started."""
    os.setsid()
    _signal.set_wakeup_fd(-1)
    for signum in _DEFAULT_SIGNALS:
        _signal.signal(signum, _signal.SIG_DFL)
    _signal.signal(_SIGINT, _signal.default_int_handler)
    stdin_fd, output_fd = fds
    os.dup2(stdin_fd, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    for fd in (stdin_fd, output_fd, *private):
        os.close(fd)
    control.close()
    _become_task_process(request)


def _become_task_process(request: dict) -> None:
    """cwd, environment, argv and sys.path of `python3 <worker>` started for `request`
    (its "env" being the changes to this process's environment)."""
    os.chdir(request["cwd"])
    changes = request["env"]
    _apply_environ_changes(changes)
    argv = request["argv"]
    sys.argv = list(argv)
    if (_task_path is not None and _task_path[0] == (request["cwd"], argv[0])
            and not changes["set"] and not changes["unset"]):
        path = _task_path[1]  # what the zygote computed in this cwd and environment
    else:
        path = _sys_path_for(argv[0])
    if sys.path != path:
        sys.path[:] = path


def _sys_path_for(script: str) -> list[str]:
    """sys.path of `python3 <script>` started in this cwd and environment."""
    # as site.py does at start-up: PYTHONPATH entries made absolute against the cwd
    pythonpath = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                  if p]
    entries = [os.path.dirname(os.path.abspath(script))] + pythonpath + _BASE_PATH
    return list(dict.fromkeys(entries))


def _remember_task_path(request: dict) -> None:
    """In a zygote (cwd and environment those of its job's tasks): keep the sys.path a task
    of `request`'s worker starts with, for `_become_task_process` in the forked tasks."""
    global _task_path
    try:
        if not os.path.samefile(".", request["cwd"]):  # the job's imports moved the zygote
            return
    except OSError:
        return
    script = request["argv"][0]
    path = _sys_path_for(script)
    if sys.path == path:  # the usual case: the same string objects compare fastest
        path = list(sys.path)
    _task_path = ((request["cwd"], script), path)


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
    (zipimport opens the file as an archive) and module swapping: ~0.5 ms per task.
    The code is the one `_compile_worker` made in the parent when it is of this file."""
    cached = _worker_code.get(path)
    if cached is not None:
        code = cached[1]
    else:
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec", dont_inherit=True)
    main_module = types.ModuleType("__main__")
    main_module.__file__ = path
    main_module.__builtins__ = builtins  # type: ignore[attr-defined]
    main_module.__cached__ = None  # type: ignore[attr-defined]
    main_module.__loader__ = None  # type: ignore[assignment]
    sys.modules["__main__"] = main_module
    exec(code, main_module.__dict__)


def _compile_worker(path: str) -> None:
    """Compile the worker file at `path` for the children forked next, unless the code of
    this very file (same inode, size, modification and change times) is at hand: a child
    then skips reading and compiling it (~0.4 ms). A file that cannot be read or compiled
    without a warning is left to the child, which reports it as `python3 <path>` would."""
    try:
        stat = os.stat(path)
    except OSError:
        _worker_code.pop(path, None)
        return
    identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    cached = _worker_code.get(path)
    if cached is not None and cached[0] == identity:
        return
    if len(_worker_code) >= _WORKER_CODE_LIMIT:  # the server sees every job's worker
        _worker_code.clear()
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("error")  # a SyntaxWarning belongs in the task's output
            code = compile(f.read(), path, "exec", dont_inherit=True)
    except Exception:  # noqa: BLE001 - OSError, SyntaxError, ValueError, a warning
        _worker_code.pop(path, None)
        return
    _worker_code[path] = (identity, code)


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
#: signals a worker starts with the default action for (SIGINT: KeyboardInterrupt)
_DEFAULT_SIGNALS = (int(signal.SIGCHLD), int(signal.SIGTERM), int(signal.SIGHUP))
_SIGINT = int(signal.SIGINT)
#: compiled worker files by path: (file identity, code object); see `_compile_worker`
_worker_code: dict[str, tuple[tuple, types.CodeType]] = {}
_WORKER_CODE_LIMIT = 64
#: in a zygote: ((cwd, worker path), sys.path) of its job's tasks; see `_remember_task_path`
_task_path: tuple[tuple[str, str], list[str]] | None = None


def main() -> None:
    """`python -m disco.node.forkserver FD [ZYGOTE_IDLE]`: FD is the control socket inherited
    from the node; ZYGOTE_IDLE (seconds, 0 = none) enables per-job zygotes."""
    global _BASE_PATH, _SERVER_ENV
    control = socket.socket(fileno=int(sys.argv[1]))
    zygote_idle = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    _SERVER_ENV = dict(os.environ)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional module only makes the fast path less fast
            pass
    try:
        from disco.worker import preopen_stdin
        preopen_stdin()
    except Exception:  # noqa: BLE001 - each worker then opens its own
        pass
    # sys.path of a fresh interpreter minus its first entry (the script's directory)
    _BASE_PATH = list(sys.path[1:])
    _forget_missing_paths()
    # move the preloaded objects out of the collector's reach: a child's garbage collection
    # would otherwise walk (and so copy-on-write) every page of the pre-imported modules
    gc.collect()
    gc.freeze()
    serve(control, zygote_idle)


if __name__ == "__main__":
    main()
