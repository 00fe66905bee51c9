"""Temp GC on every node: Disco's ``temp_gc`` (DISCO.md §6 "Temp GC").

Every ``DATA_GC_INTERVAL`` hours (a float, so tests can use fractions) the node asks the master
which jobs are active and which were purged recently (``GET /internal/node/jobs``), then walks
``DISCO_DATA/<host>/<hh>/<job>/``.  The directory of a job that is not active is deleted when
the job was purged, or when the directory's mtime is more than ``DISCO_GC_AFTER`` seconds old
(default 100 years: only purged jobs are collected).  The job's OOB tag
``disco:job:oob:<job>`` is deleted first; if that fails the directory is kept for the next pass
(as Disco).  The first pass runs when the node starts.

The disk walk, the deletions and the DDFS calls run in a thread (``asyncio.to_thread``), so the
node's event loop keeps serving tasks and files.  Our settings: ``DISCO_TEMP_GC_PAUSE`` (s slept
after each deleted job, Disco's 100 ms against flooding the master and the disk).
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp

from disco import httpauth
from disco.ddfs import DDFS
from disco.error import CommError
from disco.urls import hexhash

log = logging.getLogger(__name__)

#: the master's internal endpoint listing active and recently purged jobs
JOBS_PATH = "/internal/node/jobs"


def job_dirs(root: str) -> Iterator[tuple[str, str]]:
    """``(job, path)`` of every job directory ``root/<hh>/<job>`` (``hh`` = hexhash(job)).

    Entries that do not follow the layout (files, temporary extraction directories) are
    skipped; a directory that vanishes meanwhile is ignored.
    """
    try:
        hash_dirs = sorted(os.listdir(root))
    except FileNotFoundError:
        return
    for hh in hash_dirs:
        hash_path = os.path.join(root, hh)
        try:
            names = sorted(os.listdir(hash_path))
        except (NotADirectoryError, FileNotFoundError):
            continue
        for job in names:
            path = os.path.join(hash_path, job)
            if hexhash(job) == hh and os.path.isdir(path):
                yield job, path


def is_expired(job: str, path: str, purged: set[str], gc_after: float, now: float) -> bool:
    """Disco's rule for a job that is not active: purged, or untouched for `gc_after` s."""
    if job in purged:
        return True
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    return now - mtime > gc_after


class TempGC:
    """One node's temp GC loop (:meth:`run`) and single passes (:meth:`run_once`)."""

    def __init__(self, config: Any, host: str, master_url: str, disco_data: str,
                 ddfs_factory: Callable[[], DDFS]) -> None:
        """`config`: the node's typed Config (disco.settings_table)."""
        self.host = host
        self.root = os.path.join(disco_data, host)
        self.jobs_url = master_url.rstrip("/") + JOBS_PATH
        self.config = config
        self.interval = config.data_gc_interval * 3600
        self.gc_after = config.disco_gc_after
        self.pause = config.disco_temp_gc_pause
        self.timeout = config.disco_node_timeout
        self._ddfs_factory = ddfs_factory
        self._ddfs: DDFS | None = None

    async def run(self) -> None:
        """Pass, sleep DATA_GC_INTERVAL hours, repeat; returns only when cancelled."""
        log.info("temp GC on %s: every %g s, data older than %g s", self.host, self.interval,
                 self.gc_after)
        while True:
            try:
                await self.run_once()
            except Exception:  # loop boundary: one failed pass must not stop the GC
                log.exception("temp GC pass failed on %s", self.host)
            await asyncio.sleep(self.interval)

    async def run_once(self) -> list[str]:
        """One pass; returns the jobs whose data was deleted (none if the master is away)."""
        try:
            active, purged = await self.fetch_jobs()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError,
                TypeError) as exc:
            log.info("temp GC on %s: cannot get the job list from the master (%s); next pass "
                     "in %g s", self.host, exc, self.interval)
            return []
        deleted = await asyncio.to_thread(self.collect, active, purged)
        log.info("temp GC: one pass completed on %s (%d job dirs deleted)", self.host,
                 len(deleted))
        return deleted

    async def fetch_jobs(self) -> tuple[set[str], set[str]]:
        """Active and recently purged job names, from the master."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with httpauth.client_session(self.config, timeout=timeout) as http, \
                http.get(self.jobs_url) as resp:
            resp.raise_for_status()
            body = await resp.json(content_type=None)
        return set(body["active"]), set(body["purged"])

    def collect(self, active: set[str], purged: set[str], now: float | None = None) -> list[str]:
        """Delete the expired job directories (blocking: runs in a thread)."""
        now = time.time() if now is None else now
        deleted = []
        for job, path in job_dirs(self.root):
            if job in active or not is_expired(job, path, purged, self.gc_after, now):
                continue
            if self.purge(job, path):
                deleted.append(job)
                time.sleep(self.pause)
        return deleted

    def purge(self, job: str, path: str) -> bool:
        """Delete the job's OOB tag, then its directory; keep both if the tag delete fails."""
        log.info("temp GC: purging %s", path)
        try:
            self.delete_oob(job)
        except (CommError, OSError) as exc:
            log.warning("temp GC: deleting tag %s failed (%s); keeping %s for the next pass",
                        DDFS.job_oob(job), exc, path)
            return False
        remove_tree(path)
        return True

    def delete_oob(self, job: str) -> None:
        """Delete ``disco:job:oob:<job>`` (a missing tag is fine), with DDFS_WRITE_TOKEN."""
        if self._ddfs is None:
            self._ddfs = self._ddfs_factory()
        self._ddfs.delete(DDFS.job_oob(job))

    def purge_now(self, job: str, path: str) -> None:
        """A `purge_job` from the master: delete the job's directory at once, then (if this
        node had one) the OOB tag, best effort: a failure is logged, not retried."""
        if not os.path.isdir(path):
            return
        remove_tree(path)
        try:
            self.delete_oob(job)
        except (CommError, OSError) as exc:
            log.warning("purge of %s: deleting tag %s failed: %s", job, DDFS.job_oob(job), exc)


def remove_tree(path: str) -> None:
    """``rm -rf path``, logging a failure."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("temp GC: cannot remove %s: %s", path, exc)
