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


def write_results(jobhome: str, host: str, job: str, stage: str, task: int,
                  outputs: list[Output]) -> list[list[Any]]:
    """Write the index file (if there are local outputs) and return the task's results."""
    local = [o for o in outputs if not o.is_remote]
    results: list[list[Any]] = []
    if local:
        name = f"{stage}-{task}-{time.time_ns() // 1000}.results"
        directory = os.path.join(jobhome, ".disco")
        os.makedirs(directory, exist_ok=True)
        target = os.path.join(directory, name)
        partial = target + ".partial"
        # written whole then renamed, so a reader never sees half an index; no fsync: a node
        # crash loses the task's outputs anyway and the master reruns it
        with open(partial, "w", encoding="utf-8") as f:
            f.write(index_lines(host, job, local))
        os.replace(partial, target)
        url = f"dir://{host}/{job_url_path(host, job)}/.disco/{name}"
        results.append([url, label_sizes(local)])
    results.extend([o.location, [[o.label, o.size]]] for o in outputs if o.is_remote)
    return results
