"""
:mod:`disco.job` -- jobs and job packs
======================================

:class:`Job` is the user's handle on a job: ``Job().run(input=..., map=...)``
builds a :class:`JobPack` with the job's :class:`~disco.worker.Worker`
(jobdict, jobenvs, job home) and the pickled ``(job, jobargs)``, submits it
and remembers the name the master assigned.  Attribute access to the
``proxy_functions`` (``wait``, ``results``, ``purge``, ...) calls the
:class:`~disco.client.Disco` method with the job's name (DISCO.md §1.3).

:class:`JobChain` runs jobs whose inputs are other jobs' results.
"""
from __future__ import annotations

import functools
import time
from typing import Any

from disco import JOBPACK_VERSION1  # noqa: F401  (Disco's name)
from disco.client import Disco
from disco.error import JobError
from disco.jobpack import JobPack  # Disco's disco.job.JobPack
from disco.settings import DiscoSettings
from disco.task import jobdata
from disco.worker.classic.worker import Worker as ClassicWorker
from disco.worker.simple import Worker as SimpleWorker


class Job(object):
    """A Disco job.  ``name`` (default: the class name) becomes the jobdict
    ``prefix``; after :meth:`run` it is the unique name given by the master.
    Any worker parameter may be a class attribute of a Job subclass."""

    proxy_functions = ('clean', 'counters', 'events', 'kill', 'jobinfo', 'jobpack', 'oob_get',
                       'oob_list',
                       'profile_stats', 'purge', 'results', 'stageresults', 'wait')
    Worker = ClassicWorker

    def __init__(self, name: str | None = None, master: Any = None, worker: Any = None,
                 settings: DiscoSettings | None = None) -> None:
        self.name = name or type(self).__name__
        self.settings = settings if settings is not None else DiscoSettings()
        self.worker = worker if worker is not None else self.Worker()
        if isinstance(master, Disco):
            self._disco, self.master = master, master.master
        else:
            self._disco, self.master = None, master

    @property
    def disco(self) -> Disco:
        """The client for this job's master (created on first use)."""
        if self.__dict__.get('_disco') is None:
            self._disco = Disco(master=self.master, settings=self.settings)
        return self._disco

    def __getattr__(self, attr: str) -> Any:
        if attr in type(self).proxy_functions and 'name' in self.__dict__:
            return functools.partial(getattr(self.disco, attr), self.name)
        raise AttributeError("{0!r} object has no attribute {1!r}"
                             .format(type(self).__name__, attr))

    def __getstate__(self) -> dict:
        # The HTTP client is rebuilt where needed; it has no place in job data.
        state = dict(self.__dict__)
        state['_disco'] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def make_jobpack(self, **jobargs: Any) -> 'JobPack':
        """:return: the :class:`JobPack` :meth:`run` would submit."""
        worker = self.worker
        return JobPack(worker.jobpack_version,
                       worker.jobdict(self, **jobargs),
                       worker.jobenvs(self, **jobargs),
                       worker.jobhome(self, **jobargs),
                       jobdata(self, jobargs))

    def run(self, **jobargs: Any) -> 'Job':
        """Submit the job with ``jobargs`` (see the worker's parameters).

        :return: the job itself, now named as the master named it.
        """
        self.name = self.disco.submit(self.make_jobpack(**jobargs).dumps())
        return self

    def __repr__(self) -> str:
        return '<Job {0}>'.format(self.name)


class SimpleJob(Job):
    """A job run by :class:`disco.worker.simple.Worker`."""
    Worker = SimpleWorker


class JobChain(dict):
    """``{job: input}``: run each job once the jobs it takes input from are ready.

    ``input`` is a list of URLs and/or jobs, or a single job."""

    def wait(self, poll_interval: float = 1) -> 'JobChain':
        while self.walk() != 'ready':
            time.sleep(poll_interval)
        return self

    def walk(self) -> str:
        """Start every job whose inputs are ready; :return: 'ready' when all are."""
        ready = True
        for job in self:
            status = job_status(job)
            if status == 'unknown job':
                if self.inputs_ready(job):
                    job.run(input=self.inputs(job))
                ready = False
            elif status == 'active':
                ready = False
            elif status != 'ready':
                raise JobError(job, "Status {0}".format(status))
        return 'ready' if ready else 'active'

    def inputs_ready(self, job: Job) -> bool:
        return all(job_status(inp) == 'ready' for inp in self.input_list(job)
                   if isinstance(inp, Job))

    def input_list(self, job: Job) -> list:
        input = self[job]
        return [input] if isinstance(input, Job) else list(input)

    def inputs(self, job: Job) -> list:
        """:return: the job's input with every job replaced by its results."""
        result = []
        for inp in self.input_list(job):
            if isinstance(inp, Job):
                result.extend(inp.results()[1])
            else:
                result.append(inp)
        return result

    @property
    def name(self) -> str:
        """The names of the chain's jobs (so a chain can stand where a job is named)."""
        return ' '.join(str(job.name) for job in self)

    def purge(self) -> None:
        """Purge every job of the chain that was submitted."""
        for job in self:
            if '@' in job.name:
                job.purge()


def job_status(job: Job) -> str:
    """'unknown job' for a job not yet submitted, else the master's status."""
    if '@' not in job.name:
        return 'unknown job'
    return job.results(timeout=0)[0]
