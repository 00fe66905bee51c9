"""Job homes on a node: fetch the job pack once per job, extract it once, atomically.

Layout (DISCO.md §0, §2.5): `DISCO_DATA/<host>/<hh>/<job>/` holds the extracted job home zip,
`jobfile` (the raw job pack), the `.jobhome` marker (written last: its presence means the
job home is complete) and, later, task directories and `.disco/*.results` index files.

Concurrent tasks of one job wait on one per-job asyncio lock; the first one downloads the job
pack (streamed to disk, never held in memory whole), extracts it into a temporary directory
in a thread, and renames that directory into place. Later tasks hit an in-memory cache and
touch neither the disk nor the network.
"""
from __future__ import annotations

import asyncio
import compileall
import io
import json
import logging
import mmap
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Callable

import aiohttp

from disco.error import DataError, JobPackError
from disco.protocol import jobpack
from disco.urls import hexhash

log = logging.getLogger(__name__)

MARKER = ".jobhome"
JOBFILE = "jobfile"
_FETCH_CHUNK = 1 << 20


def job_home_path(disco_data: str, host: str, job: str) -> str:
    """`DISCO_DATA/<host>/<hh>/<job>`."""
    return os.path.join(disco_data, host, hexhash(job), job)


@dataclass(frozen=True)
class JobHome:
    """An extracted job home: its path, job pack path, the job's environment additions and
    what the node needs of its jobdict (``save_results`` and the name of the last stage:
    the outputs of that stage's tasks are uploaded to DDFS when results are saved)."""

    path: str
    jobfile: str
    jobenvs: dict[str, str]
    save_results: bool = False
    last_stage: str | None = None

    def saves(self, stage: str) -> bool:
        """True when outputs of `stage` are the job's results and must go to DDFS."""
        return self.save_results and stage == self.last_stage


class JobHomes:
    """Per-node cache of extracted job homes, keyed by job name."""

    def __init__(self, disco_data: str, host: str, http: aiohttp.ClientSession | None = None,
                 jobpack_max: int = 1 << 30,
                 session: Callable[[], aiohttp.ClientSession] = aiohttp.ClientSession) -> None:
        self.disco_data, self.host = disco_data, host
        self._http = http
        self._new_session = session  # sends the cluster's token (disco.httpauth)
        self._jobpack_max = jobpack_max
        self._ready: dict[str, JobHome] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def path(self, job: str) -> str:
        return job_home_path(self.disco_data, self.host, job)

    async def ensure(self, job: str, jobpack_url: str, worker: str) -> JobHome:
        """The job home of `job`, fetched and extracted on first use."""
        home = self._ready.get(job)
        if home is not None:
            return home
        lock = self._locks.setdefault(job, asyncio.Lock())
        async with lock:
            home = self._ready.get(job)
            if home is None:
                home = await self._prepare(job, jobpack_url, worker)
                self._ready[job] = home
        return home

    def forget(self, job: str) -> None:
        """Drop the cache entry (the job was purged)."""
        self._ready.pop(job, None)
        self._locks.pop(job, None)

    async def _prepare(self, job: str, jobpack_url: str, worker: str) -> JobHome:
        path = self.path(job)
        if os.path.exists(os.path.join(path, MARKER)):
            # extracted by an earlier run of this node
            return await asyncio.to_thread(_load_existing, path)
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{job}.partial-", dir=parent)
        try:
            await self._fetch(jobpack_url, os.path.join(staging, JOBFILE))
            info = await asyncio.to_thread(_extract, staging, worker)
            await asyncio.to_thread(_move_into_place, staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log.info("job %s: job home ready at %s", job, path)
        return _job_home(path, info)

    async def _fetch(self, url: str, target: str) -> None:
        """Stream the job pack at `url` into `target`."""
        if self._http is None:
            self._http = self._new_session()
        try:
            async with self._http.get(url) as response:
                if response.status != 200:
                    raise DataError(f"fetching the job pack failed: HTTP {response.status}", url,
                                    response.status)
                size = 0
                with open(target, "wb") as f:
                    async for chunk in response.content.iter_chunked(_FETCH_CHUNK):
                        size += len(chunk)
                        if size > self._jobpack_max:
                            raise DataError("job pack larger than DISCO_JOBPACK_MAX", url)
                        f.write(chunk)
        except aiohttp.ClientError as exc:
            raise DataError(f"fetching the job pack failed: {exc}", url) from exc

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()


@dataclass(frozen=True)
class _PackInfo:
    """What the node reads from a job pack file (never its jobdata)."""

    jobenvs: dict[str, str]
    save_results: bool
    last_stage: str | None


def _read_jobpack(jobfile: str) -> tuple[_PackInfo, bytes]:
    """(pack info, jobhome zip bytes) of the job pack file, without reading its jobdata."""
    if os.path.getsize(jobfile) < jobpack.HEADER_SIZE:  # (mmap refuses an empty file)
        raise JobPackError("invalid header")
    with open(jobfile, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        version, (dict_at, envs_at, home_at, data_at) = jobpack.read_header(data)
        try:
            jobdict = json.loads(data[dict_at:envs_at])
            jobenvs = json.loads(data[envs_at:home_at])
        except ValueError as exc:
            raise JobPackError(f"invalid jobdict or jobenvs: {exc}") from None
        if not isinstance(jobdict, dict) or not isinstance(jobenvs, dict):
            raise JobPackError("invalid jobdict or jobenvs: not JSON objects")
        info = _PackInfo({str(k): str(v) for k, v in jobenvs.items()},
                         bool(jobdict.get("save_results", False)),
                         _last_stage(version, jobdict))
        return info, data[home_at:data_at]


def _last_stage(version: int, jobdict: dict) -> str | None:
    """The name of the job's last pipeline stage (None for an empty pipeline)."""
    try:
        stages = jobpack.compile_pipeline(version, jobdict)
    except JobPackError as exc:  # the master validated it; a hand-made pack may lack fields
        log.warning("job pack pipeline unreadable (%s); results will not be saved", exc)
        return None
    return stages[-1].name if stages else None


def _job_home(path: str, info: _PackInfo) -> JobHome:
    return JobHome(path, os.path.join(path, JOBFILE), info.jobenvs, info.save_results,
                   info.last_stage)


def _extract(staging: str, worker: str) -> _PackInfo:
    """Extract the job home zip into `staging`, chmod the worker, write the marker."""
    info, zipped = _read_jobpack(os.path.join(staging, JOBFILE))
    if zipped:
        _extract_zip(zipped, staging)
    if not is_inside(staging, worker):
        raise JobHomeEscape(f"the job's worker {worker!r} is outside its job home")
    worker_path = os.path.join(staging, worker)
    if os.path.isfile(worker_path) and not os.path.islink(worker_path):
        os.chmod(worker_path, 0o755)
    _compile_modules(staging)
    with open(os.path.join(staging, MARKER), "w", encoding="utf-8"):
        pass
    return info


class JobHomeEscape(JobPackError):
    """A job home entry would land outside the job home (``..``, an absolute path, a
    symlink): the job pack is refused and the task fails with this message."""


def is_inside(root: str, relpath: str) -> bool:
    """True when `relpath` is relative, has no ``..`` or NUL, and stays under `root`."""
    if not relpath or "\x00" in relpath or os.path.isabs(relpath) or "\\" in relpath:
        return False
    if ".." in relpath.split("/"):
        return False
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(root, relpath))
    return target == real_root or target.startswith(real_root + os.sep)


def _extract_zip(zipped: bytes, staging: str) -> None:
    """Extract a job home zip, refusing (not silently renaming) any entry that could escape:
    ``..`` components, absolute paths, backslashes, symlinks and other special files."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(zipped))
    except zipfile.BadZipFile as exc:
        raise JobPackError(f"the job home is not a zip file: {exc}") from None
    with archive:
        for entry in archive.infolist():
            _check_entry(staging, entry)
        try:
            archive.extractall(staging)
        except (zipfile.BadZipFile, NotImplementedError, EOFError, ValueError) as exc:
            raise JobPackError(f"the job home zip cannot be extracted: {exc}") from None


def _check_entry(staging: str, entry: zipfile.ZipInfo) -> None:
    # zip writers often leave the type bits 0 (plain file); only a set, other type is refused
    kind = stat.S_IFMT(entry.external_attr >> 16)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise JobHomeEscape(f"job home entry {entry.filename!r} is a symlink or special file; "
                            "only regular files and directories are extracted")
    if not is_inside(staging, entry.filename.rstrip("/") or "."):
        raise JobHomeEscape(f"job home entry {entry.filename!r} would be written outside the "
                            "job home (absolute path or '..')")


def _compile_modules(staging: str) -> None:
    """Byte-compile the job's Python modules once per node: Python workers do not write
    bytecode, so each task would otherwise compile them from source again (milliseconds per
    module, per task). A module that does not compile is left to fail in the worker."""
    try:
        compileall.compile_dir(staging, quiet=2)
    except Exception as exc:  # a faster start is optional; never fail the job home for it
        log.warning("byte-compiling the job home %s failed: %s", staging, exc)


def _move_into_place(staging: str, path: str) -> None:
    """Rename the staging directory to the job home, replacing an incomplete leftover."""
    if os.path.exists(path):
        if os.path.exists(os.path.join(path, MARKER)):
            shutil.rmtree(staging, ignore_errors=True)
            return
        shutil.rmtree(path, ignore_errors=True)
    os.rename(staging, path)


def _load_existing(path: str) -> JobHome:
    info, _zipped = _read_jobpack(os.path.join(path, JOBFILE))
    return _job_home(path, info)
