"""Task results on a node: the index (`dir://`) file and the results reported to the master.

On DONE the node writes `<jobhome>/.disco/<stage>-<task>-<ts>.results` (`ts` = microseconds since
the epoch, as Disco's `results_filename`) with one line `<label> <disco url> <size>` per local
OUTPUT, and reports (docs/architecture.md "Task outputs")::

    [["dir://HOST/disco/HOST/<hh>/<job>/.disco/<file>", [[label, summed size], ...]],
     [remote_url, [[label, size]]], ...]
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Iterable

from disco.node.protocol import Output
from disco.urls import hexhash

log = logging.getLogger(__name__)


def job_url_path(host: str, job: str) -> str:
    """`disco/HOST/<hh>/<job>`: the URL path of a job home on `host` (Disco's `joburl`)."""
    return f"disco/{host}/{hexhash(job)}/{job}"


def index_lines(host: str, job: str, outputs: Iterable[Output]) -> str:
    """The index file text for the local outputs."""
    prefix = f"disco://{host}/{job_url_path(host, job)}/"
    return "".join(f"{o.label} {prefix}{o.location} {o.size}\n" for o in outputs)


def label_sizes(outputs: Iterable[Output]) -> list[list[int]]:
    """[[label, summed size], ...] sorted by label."""
    sizes: dict[int, int] = {}
    for output in outputs:
        sizes[output.label] = sizes.get(output.label, 0) + output.size
    return [[label, size] for label, size in sorted(sizes.items())]


#: index directories known to exist (one `.disco` per job home: no mkdir attempt per task)
_index_dirs: set[str] = set()


def write_index(directory: str, name: str, text: str) -> None:
    """Write one index file with a single create and write.

    Not written as ``.partial`` and renamed: nobody knows the file's name before the node
    reports it in ``task_done``, which it sends after this returns (the rename and a text
    file object cost 0.03-0.17 ms per task on ext4, of the node's ~1.3 ms). No fsync: a
    node crash loses the task's outputs anyway and the master reruns it."""
    path = os.path.join(directory, name)
    if directory not in _index_dirs:
        os.makedirs(directory, exist_ok=True)
        if len(_index_dirs) >= 1024:  # old jobs' homes: forget them, rather than grow
            _index_dirs.clear()
        _index_dirs.add(directory)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    except FileNotFoundError:  # the job home was purged and is being made again
        _index_dirs.discard(directory)
        os.makedirs(directory, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def write_results(jobhome: str, host: str, job: str, stage: str, task: int,
                  outputs: list[Output]) -> list[list[Any]]:
    """Write the index file (if there are local outputs) and return the task's results."""
    local = [o for o in outputs if not o.is_remote]
    results: list[list[Any]] = []
    if local:
        name = f"{stage}-{task}-{time.time_ns() // 1000}.results"
        write_index(os.path.join(jobhome, ".disco"), name, index_lines(host, job, local))
        url = f"dir://{host}/{job_url_path(host, job)}/.disco/{name}"
        results.append([url, label_sizes(local)])
    results.extend([o.location, [[o.label, o.size]]] for o in outputs if o.is_remote)
    return results
