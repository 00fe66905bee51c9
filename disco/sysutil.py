"""Process helpers (layer 0): memory size, RLIMIT_AS, the profiler, pid checks, durations."""
from __future__ import annotations

import importlib.util
import logging
import os
import resource
import sys
import sysconfig
from types import ModuleType

log = logging.getLogger(__name__)


def available_memory() -> int:
    """Physical memory of this machine in bytes (1 TiB if it cannot be determined)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1024 ** 4


def parse_mem_limit(limit: str | int | None) -> int:
    """Bytes for a limit given as ``'80%'`` (of physical memory) or a byte count; 0 = none."""
    if limit is None:
        return 0
    text = str(limit).strip()
    if not text:
        return 0
    if text.endswith("%"):
        return int(float(text[:-1]) / 100.0 * available_memory())
    return int(float(text))


def set_mem_limit(limit: str | int | None) -> None:
    """Lower RLIMIT_AS of this process to ``limit`` (see :func:`parse_mem_limit`)."""
    size = parse_mem_limit(limit)
    if size <= 0:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)

    def capped(current: int) -> int:
        return size if current == resource.RLIM_INFINITY or current < 0 else min(current, size)

    try:
        resource.setrlimit(resource.RLIMIT_AS, (capped(soft), capped(hard)))
    except (ValueError, OSError) as e:
        log.warning("could not set memory limit %s: %s", limit, e)


def pid_alive(pid: int | None) -> bool:
    """True if `pid` runs and is not a zombie (a process of another user counts as running)."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            # the state follows the parenthesised command name, which may contain spaces
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:  # it ended since os.kill, or there is no /proc
        return not os.path.isdir("/proc")
    except (OSError, IndexError):
        return True


def node_process_of(pid: int, host: str) -> bool:
    """True if `pid` is a live ``disco node --host <host>`` process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return False
    return "node" in argv and host in argv and "--host" in argv and pid_alive(pid)


def import_cprofile() -> ModuleType:
    """:mod:`cProfile`, built on the standard library's ``profile`` even when a job module
    called ``profile`` (Disco's ``examples/faq/profile.py``) is loaded or first on
    ``sys.path``; the job's module stays what ``import profile`` gives the job."""
    if "cProfile" in sys.modules:
        return sys.modules["cProfile"]
    stdlib_file = os.path.join(sysconfig.get_paths()["stdlib"], "profile.py")
    current = sys.modules.get("profile")
    if current is not None and getattr(current, "__file__", None) == stdlib_file:
        import cProfile
        return cProfile
    spec = importlib.util.spec_from_file_location("profile", stdlib_file)
    assert spec is not None and spec.loader is not None, stdlib_file
    stdlib_profile = importlib.util.module_from_spec(spec)
    sys.modules["profile"] = stdlib_profile
    try:
        spec.loader.exec_module(stdlib_profile)
        import cProfile
    finally:
        if current is None:
            del sys.modules["profile"]
        else:
            sys.modules["profile"] = current
    return cProfile


def format_duration(seconds: float) -> str:
    """Disco's ``H:MM:SS.mmm`` (``disco:format_time``) of ``seconds``, rounded to the ms."""
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"
