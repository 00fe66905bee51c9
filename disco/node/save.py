"""`save_results`: upload the local outputs of a job's last-stage task to DDFS.

DISCO.md §2.2 (DONE): "if last stage and save_results, local outputs are uploaded to DDFS
first (blob name `<job>:<taskid>:<runid>:<basename>`, DDFS_BLOB_REPLICAS copies)". The task's
results then name the blobs instead of a `dir://` index file, and the master tags them as
`disco:results:<job>` when the job is ready (results become `["tag://disco:results:<job>"]`).

The upload uses the blocking DDFS client; the supervisor runs it in a thread.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from disco.ddfs import DDFS
from disco.error import CommError, DataError
from disco.node.jobhome import is_inside
from disco.node.protocol import Output

log = logging.getLogger(__name__)

#: attempts per blob (each retry excludes the node whose PUT failed)
UPLOAD_RETRIES = 10


class SaveError(DataError):
    """Uploading a task output to DDFS failed (the task is retried)."""


def save_outputs(client: DDFS, job: str, task: int, attempt: int, jobhome: str,
                 outputs: list[Output]) -> list[Output]:
    """Upload every local output; return the outputs with blob URLs as locations.

    Remote outputs (already URLs) are kept as they are. With more than one replica the
    first replica's URL is the output's location (the master's `task_done` results carry one
    URL per output); the blob still has every replica, and the tag written by the master
    lists that one.
    """
    saved = []
    for output in outputs:
        if output.is_remote:
            saved.append(output)
            continue
        urls = upload_output(client, job, task, attempt, jobhome, output)
        if len(urls) > 1:
            log.info("job %s task %d: %s saved with %d replicas; reporting %s", job, task,
                     output.location, len(urls), urls[0])
        saved.append(Output(output.label, urls[0], output.size))
    return saved


def upload_output(client: DDFS, job: str, task: int, attempt: int, jobhome: str,
                  output: Output) -> list[str]:
    """Upload one local output file as a blob; return its replica URLs."""
    path = os.path.join(jobhome, output.location)
    if not is_inside(jobhome, output.location):
        # a symlink the worker planted would have the node (perhaps root) upload any file
        raise SaveError(f"Saving {output.location} to DDFS refused: it resolves outside the "
                        "job home", path)
    name = DDFS.job_result_blob(job, task, attempt, output.location)
    try:
        urls = client.upload(path, name, retries=UPLOAD_RETRIES)
    except (CommError, OSError) as exc:
        raise SaveError(f"Saving {output.location} to DDFS failed: {exc}", path) from exc
    log.debug("job %s task %d: saved %s as %s", job, task, output.location, urls)
    return [str(url) for url in urls]


def ddfs_client(master_url: str, settings: Any) -> DDFS:
    """A DDFS client for the node's master, with the node's settings (ports, timeouts)."""
    return DDFS(master_url, settings=settings)
