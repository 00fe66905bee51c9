"""
:mod:`disco.client` -- the client for a Disco master
====================================================

:class:`Disco` wraps the master's REST API (DISCO.md §1.2, §3.1) over the
standard library's HTTP client: submitting job packs, job status and
results (``wait`` polls ``/disco/ctrl/get_results``, which blocks on the
master until the job ends or the poll interval passes), events, OOB data and
cluster configuration.  :mod:`disco.job` builds jobs on it; users import
it, as in Disco, from :mod:`disco.core` (whose :class:`~disco.core.Disco`
adds :meth:`~disco.core.Disco.new_job`).
"""
from __future__ import annotations

import json
import marshal
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

import disco
from disco import auth, tls
from disco.ddfs import DDFS
from disco.error import CommError, DiscoError, JobError
from disco.eventmonitor import EventMonitor
from disco.jobpack import JobPack
from disco.results import result_iterator
from disco.settings import DiscoSettings

#: Extra seconds an HTTP request may take beyond the time the master may block.
HTTP_MARGIN = 60


def client_version() -> str:
    """The version of this client library (Disco: the egg version, or "source")."""
    return getattr(disco, "__version__", "source")


class Continue(DiscoError):
    """Raised by :meth:`Disco.check_results` while a job is still running."""


class Stats(object):
    """Marshalled profile data in the shape :class:`pstats.Stats` accepts."""

    def __init__(self, prof: bytes) -> None:
        self.stats = marshal.loads(prof)

    def create_stats(self) -> None:
        pass


class JobRef(object):
    """A job known only by name, for the event monitor and error messages."""

    def __init__(self, disco: 'Disco', name: str) -> None:
        self.disco, self.name = disco, name

    def events(self, offset: int = 0) -> Iterator:
        return self.disco.events(self.name, offset=offset)

    def jobinfo(self) -> dict:
        return self.disco.jobinfo(self.name)


def http_request(url: str, data: bytes | None = None, offset: int = 0,
                 timeout: float = HTTP_MARGIN, method: str | None = None) -> bytes:
    """GET (POST with ``data``) ``url``; :raises CommError: with the HTTP status."""
    request = urllib.request.Request(url, data=data, method=method,
                                     headers=auth.client_headers(url))
    if offset:
        request.add_header('Range', 'bytes={0}-'.format(offset))
    try:
        context = tls.client_context() if url.startswith("https:") else None
        with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:
            return reply.read()
    except urllib.error.HTTPError as error:
        if error.code == 416:
            return b''
        body = error.read().decode('utf-8', 'replace')
        raise CommError(body or error.reason, url, error.code) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, 'reason', error)
        raise CommError(str(reason), url, None) from None


def _name(jobspec: Any) -> str:
    return jobspec if isinstance(jobspec, str) else jobspec.name


class Disco(object):
    """The client for the master at ``master`` (default ``DISCO_MASTER``)."""

    def __init__(self, master: str | None = None, settings: DiscoSettings | None = None,
                 proxy: str | None = None) -> None:
        self.settings = settings if settings is not None else DiscoSettings()
        self.proxy = proxy or self.settings['DISCO_PROXY'] or None
        self.master = (master or self.settings['DISCO_MASTER']).rstrip('/')

    def __repr__(self) -> str:
        return 'Disco master at {0}'.format(self.master)

    def request(self, url: str, data: Any = None, offset: int = 0, as_bytes: bool = False,
                timeout: float = HTTP_MARGIN) -> Any:
        """:return: the master's reply to ``url`` (str, or bytes with ``as_bytes``)."""
        if isinstance(data, str):
            data = data.encode('utf-8')
        try:
            body = http_request((self.proxy or self.master) + url, data=data, offset=offset,
                                timeout=timeout)
        except CommError as error:
            if error.code is None:
                error.msg += ' (is disco master running at {0}?)'.format(self.master)
            raise
        return body if as_bytes else body.decode('utf-8')

    def request_json(self, url: str, data: Any = None, timeout: float = HTTP_MARGIN) -> Any:
        if data is not None and not isinstance(data, (bytes, str)):
            data = json.dumps(data)
        return json.loads(self.request(url, data, timeout=timeout))

    # ------------------------------------------------------------------ cluster
    def submit(self, jobpack: bytes) -> str:
        """Submit a job pack; :return: the job's name."""
        status, body = self.request_json('/disco/job/new', jobpack)
        if status != 'ok':
            raise DiscoError("Failed to submit jobpack: {0}".format(body))
        return body

    def get_config(self) -> list:
        return self.request_json('/disco/ctrl/load_config_table')

    def set_config(self, config: list) -> None:
        response = self.request_json('/disco/ctrl/save_config_table', config)
        if response != 'table saved!':
            raise DiscoError(response)

    config = property(get_config, set_config)

    def master_version(self) -> str:
        return self.request_json('/disco/version')

    @property
    def ddfs(self) -> DDFS:
        return DDFS(self.master, settings=self.settings)

    def nodeinfo(self) -> dict:
        return self.request_json('/disco/ctrl/nodeinfo')

    def joblist(self) -> list:
        return self.request_json('/disco/ctrl/joblist')

    def blacklist(self, node: str) -> None:
        self.request('/disco/ctrl/blacklist', json.dumps(node))

    def whitelist(self, node: str) -> None:
        self.request('/disco/ctrl/whitelist', json.dumps(node))

    # ------------------------------------------------------------------ OOB
    def oob_get(self, jobname: str, key: str) -> bytes:
        for blob in self.ddfs.pull(DDFS.job_oob(jobname), blobfilter=lambda name: name == key):
            return blob.read()
        raise DiscoError("Unknown key or jobname")

    def oob_list(self, jobname: str) -> list:
        names = []
        for replicas in self.ddfs.blobs(DDFS.job_oob(jobname), ignore_missing=True):
            name = DDFS.blob_name(replicas[0])
            if name not in names:
                names.append(name)
        return names

    def profile_stats(self, jobname: str, mode: str = '', stream: Any = sys.stdout) -> Any:
        prefix = 'profile-{0}'.format(mode)
        keys = [key for key in self.oob_list(jobname) if key.startswith(prefix)]
        if not keys:
            raise JobError(jobname, "No profile data")
        import pstats  # only here: ~7 ms of every client's import otherwise
        stats = pstats.Stats(Stats(self.oob_get(jobname, keys[0])), stream=stream)
        for key in keys[1:]:
            stats.add(Stats(self.oob_get(jobname, key)))
        stats.strip_dirs()
        stats.sort_stats('cumulative')
        return stats

    # ------------------------------------------------------------------ jobs
    def kill(self, jobname: str) -> None:
        self.request('/disco/ctrl/kill_job', json.dumps(jobname))

    def clean(self, jobname: str) -> None:
        """Delete the job's metadata (deprecated: use :meth:`purge`)."""
        self.request('/disco/ctrl/clean_job', json.dumps(jobname))

    def purge(self, jobname: str) -> None:
        self.request('/disco/ctrl/purge_job', json.dumps(jobname))

    def jobpack(self, jobname: str) -> Any:
        data = self.request('/disco/ctrl/parameters?name={0}'.format(jobname), as_bytes=True)
        return JobPack.loads(data)

    def jobinfo(self, jobname: str) -> dict:
        return self.request_json('/disco/ctrl/jobinfo?name={0}'.format(jobname))

    def counters(self, jobname: str, tasks: bool = False) -> dict:
        """The job's counters: per stage, in total, and (``tasks``) per task
        (docs/counters.md); while the job runs, those of its finished tasks."""
        query = '&tasks=1' if tasks else ''
        return self.request_json('/disco/ctrl/counters?name={0}{1}'.format(jobname, query))

    def rawevents(self, jobname: str, offset: int = 0) -> bytes:
        return self.request('/disco/ctrl/rawevents?name={0}'.format(jobname), offset=offset,
                            as_bytes=True)

    def events(self, jobname: str, offset: int = 0) -> Iterator:
        """Yield ``(offset, (timestamp, host, message))`` for events after ``offset``.

        The offset after the last line is one less than its end, so the next
        Range request is never empty (Disco's quirk, kept: ``EventMonitor``
        and other clients resume from these offsets)."""
        return parse_events(self.rawevents(jobname, offset=offset), offset)

    def stageresults(self, jobname: str, stagename: str) -> list:
        return self.request_json('/disco/ctrl/get_stageresults?name={0}&stage={1}'
                                 .format(jobname, stagename))

    def results(self, jobspec: Any, timeout: int = 2000) -> Any:
        """Status and results of one job (``(status, results)``) or, for a list,
        ``(others, active)`` lists of ``(name, (status, results))``; the master
        blocks up to ``timeout`` ms until one of the active jobs ends."""
        single = not isinstance(jobspec, (list, tuple))
        names = [_name(jobspec)] if single else [_name(j) for j in jobspec]
        replies = self.request_json('/disco/ctrl/get_results', [int(timeout), names],
                                    timeout=timeout / 1000.0 + HTTP_MARGIN)
        replies = [(name, tuple(reply)) for name, reply in replies]
        if single:
            return replies[0][1]
        others = [r for r in replies if r[1][0] != 'active']
        active = [r for r in replies if r[1][0] == 'active']
        return others, active

    def check_results(self, jobname: str, start_time: float, timeout: float | None,
                      poll_interval: float) -> list:
        """:return: the results if ready; :raises Continue: while active."""
        try:
            status, results = self.results(jobname, timeout=poll_interval)
        except CommError:
            status, results = 'active', None
        if status == 'ready':
            return results
        if status != 'active':
            raise JobError(jobname, self.failure_message(jobname, status))
        if timeout and time.time() - start_time > timeout:
            raise JobError(jobname, "Timeout")
        raise Continue()

    def failure_message(self, jobname: str, status: str) -> str:
        """Disco's "Status dead", followed by why (the master's jobinfo ``reason``: which
        task failed, on which node, and the worker's traceback) when the master says."""
        message = "Status {0}".format(status)
        try:
            reason = self.jobinfo(jobname).get("reason")
        except (CommError, DiscoError, ValueError):
            reason = None
        return "{0}: {1}".format(message, reason) if reason else message

    def wait(self, jobname: str, poll_interval: float = 2, timeout: float | None = None,
             clean: bool = False, show: Any = None) -> list:
        """Block until the job is ready; :return: its results."""
        if show is None:
            show = self.settings['DISCO_EVENTS']
        monitor = EventMonitor(JobRef(self, jobname), format=show, poll_interval=poll_interval)
        start_time = time.time()
        while True:
            monitor.refresh()
            try:
                results = self.check_results(jobname, start_time, timeout,
                                             poll_interval * 1000)
            except Continue:
                continue
            except JobError:
                monitor.refresh(force=True)
                raise
            monitor.refresh(force=True)
            if clean:
                self.clean(jobname)
            return results

    def result_iterator(self, *args: Any, **kwargs: Any) -> Iterator:
        kwargs.setdefault('ddfs', self.master)
        return result_iterator(*args, **kwargs)


def parse_events(data: bytes, offset: int = 0) -> Iterator:
    """Yield ``(offset, event)`` for each complete line of an events file chunk."""
    lines = data.split(b'\n')
    complete = lines[:-1]  # the piece after the last newline is incomplete
    position = offset
    for index, line in enumerate(complete):
        position += len(line) + 1
        if not line.strip():
            continue
        try:
            event = tuple(json.loads(line.decode('utf-8')))
        except ValueError:
            break
        last = index == len(complete) - 1
        yield (position - 1 if last else position), event
