"""Process resource helpers used by workers (layer 0): memory size and RLIMIT_AS."""
from __future__ import annotations

import logging
import os
import resource

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


def pid_alive(pid: int) -> bool:
    """True if `pid` runs and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def node_process_of(pid: int, host: str) -> bool:
    """True if `pid` is a live ``disco node --host <host>`` process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return False
    return "node" in argv and host in argv and "--host" in argv and pid_alive(pid)
