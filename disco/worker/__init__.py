"""
:mod:`disco.worker` -- the Python worker: protocol client, inputs and outputs
=============================================================================

A :class:`Worker` plays two roles (DISCO.md §1.4).  On the client it is the
dict of job parameters that produces the job pack's jobdict, jobenvs and
job home.  On a node, the job home's ``disco-worker`` launcher calls
:meth:`Worker.main`, which speaks the worker protocol (DISCO.md §2) over
stdin/stderr, builds the :class:`disco.task.Task`, unpickles ``(job,
jobargs)`` and runs ``job.worker.start(task, job, **jobargs)``.

While a worker runs, the protocol channel belongs to :mod:`disco.worker.channel`:
``sys.stdout``/``sys.stderr`` become :class:`MessageWriter` objects (every
non-empty write is a ``MSG``), and file descriptors 1 and 2 are redirected
to an in-memory file whose lines are forwarded as ``MSG`` too (before the
next protocol message), so a stray write from C code or a child process can
never corrupt a protocol frame.
"""
from __future__ import annotations

import gzip
import heapq
import io
import itertools
import os
import random
import sys
import time
import traceback
import zipfile
from itertools import islice
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator

from disco import comm, sysutil
from disco.error import CommError, DataError, InputNotFound
from disco.fileutils import AtomicFile, DiscoOutput, Wait
from disco.settings import DiscoSettings
from disco.task import Task
from disco.worker import channel, counters, modutil
from disco.worker.channel import (NO_REPLY, STRAY_CHUNK, Channel, MessageWriter,  # noqa: F401
                                  StrayOutput, drain_stray_output, flush_writers,
                                   preopen_stdin, wait_for_next_task)
from disco.worker.counters import counter, increment_counter  # noqa: F401 - the job API
from disco.worker.task_io import StreamCombiner, task_input_stream

#: Longest a worker may wait for a reply from its node (three days, as Disco).
DISCO_WORKER_MAX_TIME = 24 * 3600
#: The task being run by this process (set by :meth:`Worker.main`).
active_task = None
#: set to ``1`` by the node when this worker may run further tasks of its job (worker reuse)
REUSE_VARIABLE = 'DISCO_WORKER_REUSE'

#: Name and contents of the launcher put at the root of every Python job home
#: (docs/architecture.md "The Python worker executable").
WORKER_LAUNCHER = 'disco-worker'
LAUNCHER_SOURCE = ('#!/usr/bin/env python3\n'
                   '# disco-python-worker\n'
                   'from disco.worker import Worker\n'
                   'Worker.main()\n')

_first = itemgetter(0)

def install_channel() -> Channel:
    """Take over fds 0-2 for the protocol (`disco.worker.channel.install_channel`); job
    code's ``print`` becomes MSGs sent by :class:`Worker`."""
    return channel.install_channel(Worker)


class Params(object):
    """An attribute bag passed to every job function as ``params``
    (each task gets its own unpickled copy)."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return 'Params({0})'.format(', '.join('{0}={1!r}'.format(k, v)
                                              for k, v in sorted(self.__dict__.items())))


class Worker(dict):
    """A dict of job parameters that knows how to become a job pack (client)
    and how to run a task (node).  See DISCO.md §1.4."""

    #: The real stderr, captured at import (Disco's class attribute).
    stderr = sys.stderr
    jobpack_version = 1

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(self.defaults())
        self.update(kwargs)
        self.outputs: dict = {}

    # ---------------------------------------------------------------- client side
    @property
    def bin(self) -> str:
        """The worker executable, relative to the job home (jobdict ``worker``)."""
        return WORKER_LAUNCHER

    def defaults(self) -> dict:
        return {'save_results': False,
                'profile': False,
                'required_files': {},
                'required_modules': None,
                'worker_reuse': True}

    def getitem(self, key: str, job: Any, jobargs: dict, default: Any = None) -> Any:
        """Resolve ``key``: jobargs, then job attribute, then this dict, then default."""
        if key in jobargs:
            return jobargs[key]
        if hasattr(job, key):
            return getattr(job, key)
        return self.get(key, default)

    def get_modules(self, job: Any, **jobargs: Any) -> list:
        """:return: the modules the job's functions need (``modutil.find_modules``)."""
        functions = [obj for key in self
                     for obj in modutil.callables(self.getitem(key, job, jobargs))]
        return modutil.job_modules(functions, job_path=modutil.source_path(job),
                                   exclude=['Task'])

    def jobdict(self, job: Any, **jobargs: Any) -> dict:
        """:return: the base jobdict fields (DISCO.md §2.6)."""
        def get(key: str, default: Any = None) -> Any:
            return self.getitem(key, job, jobargs, default)
        settings = job.settings
        return {'prefix': get('name') or job.name,
                'save_results': bool(get('save_results', False) or get('save', False)),
                'save_info': get('save_info', 'ddfs'),
                'scheduler': get('scheduler', {}) or {},
                'owner': get('owner') or settings['DISCO_JOB_OWNER'],
                'worker': self.bin}

    def jobenvs(self, job: Any, **jobargs: Any) -> dict:
        """:return: environment for the worker: client paths re-rooted in the job home."""
        paths = ['lib']
        for path in sys.path:
            relative = path.strip('/')
            if relative and relative not in paths:
                paths.append(relative)
        envs = {'PYTHONPATH': ':'.join(paths), 'LD_LIBRARY_PATH': 'lib'}
        if not self.reuse_wanted(job, jobargs):
            envs[REUSE_VARIABLE] = '0'  # the node then starts a process per task
        return envs

    def reuse_wanted(self, job: Any, jobargs: dict) -> bool:
        """Worker reuse for this job: the ``worker_reuse`` parameter and the job's
        ``DISCO_WORKER_REUSE`` setting (both on by default)."""
        settings = getattr(job, 'settings', None)
        try:
            setting = settings.get_bool(REUSE_VARIABLE) if settings is not None else True
        except Exception:  # noqa: BLE001 - an unparsable value: the default
            setting = True
        return bool(self.getitem('worker_reuse', job, jobargs, True)) and setting

    def jobhome(self, job: Any, **jobargs: Any) -> bytes:
        """:return: the job home zip, as bytes."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as jobzip:
            self.jobzip(job, jobzip, **jobargs)
        return buffer.getvalue()

    def jobzip(self, job: Any, jobzip: zipfile.ZipFile, **jobargs: Any) -> None:
        """Fill the job home: the launcher, the job's module, required files and modules."""
        launcher = zipfile.ZipInfo(WORKER_LAUNCHER, date_time=(2000, 1, 1, 0, 0, 0))
        launcher.external_attr = (0o100755 << 16)
        launcher.compress_type = zipfile.ZIP_DEFLATED
        jobzip.writestr(launcher, LAUNCHER_SOURCE)
        written = set(jobzip.namelist())
        # The job's own module (not the worker's: Disco is installed on every node).
        modutil.write_module_file(jobzip, modutil.source_path(job), written)
        self.write_required_files(jobzip, self.getitem('required_files', job, jobargs, {}))
        required = self.getitem('required_modules', job, jobargs)
        if required is None:
            required = self['required_modules'] = self.get_modules(job, **jobargs)
            self.auto_modules = True
        for module in required:
            if isinstance(module, (tuple, list)) and len(module) == 2:
                modutil.write_module_file(jobzip, module[1], written)

    @staticmethod
    def write_required_files(jobzip: zipfile.ZipFile, files: Any) -> None:
        """``{arcname: bytes}`` is written as is; a list of paths goes to ``lib/``."""
        if isinstance(files, dict):
            for name, data in files.items():
                jobzip.writestr(name, data)
        else:
            for path in files or ():
                jobzip.write(path, os.path.join('lib', os.path.basename(path)))

    # ---------------------------------------------------------------- node side
    def input(self, task: Any, merged: bool = False, **kwds: Any) -> Iterable:
        """:return: an iterable over all records of the task's inputs."""
        if merged:
            return MergedInput(self.get_inputs(), task=task, **kwds)
        return SerialInput(self.get_inputs(), task=task, **kwds)

    def output(self, task: Any, label: Any = None, **kwds: Any) -> 'Output':
        """:return: the (cached) :class:`Output` for ``label``."""
        output = self.outputs.get(label)
        if output is None:
            output = self.outputs[label] = Output(task.output(label), **kwds)
        return output

    def prepare_job(self, job: Any, jobargs: dict) -> None:
        """Job-level set-up, done once per job and node before any of its tasks, in the
        process the tasks fork from (the job's zygote, :mod:`disco.node.forkserver`): each
        task then starts from a copy-on-write copy of what it did, and must behave as if it
        had done it itself. Nothing that depends on the task belongs here. The base worker
        has nothing to do; an exception is ignored (the tasks do the work themselves)."""

    def start(self, task: Any, job: Any, **jobargs: Any) -> None:
        """Run the task (profiled if asked) and report its outputs."""
        set_memory_limit(job)
        task.makedirs()
        if self.getitem('profile', job, jobargs):
            self.run_profiled(task, job, **jobargs)
        else:
            self.run(task, job, **jobargs)
        self.end(task, job, **jobargs)

    def run_profiled(self, task: Any, job: Any, **jobargs: Any) -> None:
        """Run the task under cProfile and store the stats as OOB ``profile-<uid>``."""
        # Imported only when a job asks to be profiled (as Disco does), around a job
        # module that may itself be called `profile` (Disco's examples/faq/profile.py).
        cProfile = sysutil.import_cprofile()
        key = safe_key('profile-{0}'.format(task.uid))
        path = task.path(key)
        profiler = cProfile.Profile()
        profiler.runcall(self.run, task, job, **jobargs)
        profiler.dump_stats(path)
        with open(path, 'rb') as stats:
            task.put(key, stats.read())

    def run(self, task: Any, job: Any, **jobargs: Any) -> None:
        """Do the task's work: call the function named after the stage."""
        self.getitem(task.stage, job, jobargs)(task, job, **jobargs)

    def end(self, task: Any, job: Any, **jobargs: Any) -> None:
        """Report outputs.  With ``save_results`` on the last stage the node
        uploads the reported local outputs to DDFS (DISCO.md §2.2 DONE): this
        is the hook where a worker-side save would go."""
        self.send_outputs()
        self.send('MSG', "Results sent to master")

    @classmethod
    def main(cls) -> None:
        """Entry point of the ``disco-worker`` launcher; never returns."""
        sys.dont_write_bytecode = True
        add_job_paths()
        install_channel()
        code = cls.run_protocol()
        # worker reuse (offered by our node for its forked Python workers only): after DONE,
        # run the same job's next task in this process when the node sends NEXT; each task
        # has its own protocol session, Task, job objects, directory and outputs, only module
        # state (globals, imports, os.environ) carries over
        while code == 0 and os.environ.get(REUSE_VARIABLE) == '1':
            offer = wait_for_next_task()
            if offer is None:
                break
            code = cls.run_protocol(offer or None)
        os._exit(code)

    @classmethod
    def run_protocol(cls, task_payload: dict | None = None) -> int:
        """WORKER, TASK, run, DONE.  Data/environment/memory errors are sent as
        ERROR (retried), anything else as FATAL (job killed).  `task_payload`: the
        TASK payload a reused worker got with ``NEXT`` (it then skips WORKER and TASK)."""
        global active_task
        try:
            if task_payload is None:
                cls.send('WORKER', {'pid': os.getpid(), 'version': '1.1'})
                task = active_task = cls.get_task()
            else:
                task = active_task = task_from_payload(task_payload)
            counters.reset()
            task.export_settings()
            job, jobargs = task.jobobjs
            job.worker.start(task, job, **jobargs)
            flush_writers()
            drain_stray_output()
            counters.report(cls.send)
            cls.send('DONE')
            return 0
        except (DataError, EnvironmentError, MemoryError):
            cls.send_last('ERROR', traceback.format_exc())
            return 1
        except Exception:  # any other failure of job code kills the job, as in Disco
            cls.send_last('FATAL', traceback.format_exc())
            return 2

    @classmethod
    def send_last(cls, type: str, payload: str) -> None:
        """Send the final ERROR/FATAL after what the job printed."""
        flush_writers()
        drain_stray_output()
        cls.send(type, payload)

    @classmethod
    def send(cls, type: str, payload: Any = '') -> Any:
        """Send a protocol message; :return: the reply's payload."""
        reply = cls.exchange(type, payload)
        return None if reply is None else reply[1]

    @classmethod
    def exchange(cls, type: str, payload: Any = '') -> tuple | None:
        """Send a protocol message; :return: the reply ``(name, payload)``."""
        return channel.request(type, payload)

    @classmethod
    def get_input(cls, id: int) -> list:
        """:return: ``[(replica_id, url), ...]`` of input ``id``."""
        _flag, inputs = cls.send('INPUT', ['include', [id]])
        for input_id, status, _label, replicas in inputs:
            if input_id == id:
                return check_input_status(id, status, replicas)
        raise DataError("Input {0} unknown to the node".format(id), str(id))

    @classmethod
    def get_inputs(cls, done: bool = False, exclude: Iterable = ()) -> Iterator['IDedInput']:
        """Yield every input of the task, asking the node until it says done."""
        seen = set(exclude)
        while not done:
            flag, inputs = cls.send('INPUT', ['exclude', sorted(seen)])
            done = flag == 'done'
            for input_id, status, label, replicas in inputs:
                if input_id not in seen:
                    seen.add(input_id)
                    replicas = check_input_status(input_id, status, replicas)
                    yield IDedInput((cls, input_id, label, replicas))

    @classmethod
    def get_task(cls) -> Any:
        return task_from_payload(cls.send('TASK'))

    def send_outputs(self) -> None:
        """Close every output and report it with ``OUTPUT [label, path, size]``."""
        for label in sorted(self.outputs, key=_label_order):
            output = self.outputs[label]
            output.close()
            size = output.size()
            count_output(output, size)
            self.send('OUTPUT', [output.label, output.path, size])

    def labelled_input_map(self, task: Any, inputs: Iterable) -> dict:
        """:return: ``{label: [[url, ...], ...]}``, index (dir://) inputs expanded."""
        label_map: dict = {}
        for input in inputs:
            for label, replicas in expand_input(input, task):
                label_map.setdefault(label, []).append(replicas)
        return label_map

    def concat_input(self, task: Any, label: int, replicas_list: list) -> None:
        """Concatenate the bytes of each input (first good replica) into the
        output for ``label``."""
        path, _typ, _label = task.output(label)
        output = self.outputs[label] = BaseOutput((path, 'part', label))
        with AtomicFile(path) as target:
            for replicas in replicas_list:
                copy_replica(replicas, task, target)
        output.closed = True


def task_from_payload(payload: dict) -> Task:
    """The `Task` a TASK payload describes (DISCO.md §2.2)."""
    return Task(**{str(key): value for key, value in payload.items()})


def count_output(output: 'BaseOutput', size: int) -> None:
    """Engine counters of one closed output: its bytes and (when its record stream counts
    them, per hunk) records, in total and per label."""
    counters.engine('bytes_out', size)
    counters.engine('outputs', 1)
    label = str(output.label)
    counters.count(counters.LABELS, label + '.bytes', size)
    records = output_records(output)
    if records is not None:
        counters.engine('records_out', records)
        counters.count(counters.LABELS, label + '.records', records)


def output_records(output: Any) -> int | None:
    """Records an output's last stream wrote, if it counts them (Disco's record format does)."""
    file = getattr(output, 'file', None)
    streams = getattr(file, 'fds', None) or [file]
    records = getattr(streams[-1], 'records', None)
    return records if isinstance(records, int) else None


def _label_order(label: Any) -> tuple:
    return (label is not None, str(type(label)), label if label is not None else 0)


def check_input_status(input_id: int, status: str, replicas: list) -> list:
    """Turn a protocol input status into replicas or the matching exception."""
    if status == 'busy':
        raise Wait
    if status == 'failed':
        raise DataError("Can't handle broken input", str(input_id))
    return [(rid, str(url)) for rid, url in replicas]


def set_memory_limit(job: Any) -> None:
    """Apply DISCO_WORKER_MAX_MEM (RLIMIT_AS) like Disco, when the job carries it."""
    settings = getattr(job, 'settings', None)
    limit = settings['DISCO_WORKER_MAX_MEM'] if settings is not None else None
    if limit:
        sysutil.set_mem_limit(limit)


def add_job_paths() -> None:
    """Put the job's PYTHONPATH entries (relative to the job home) on sys.path,
    also when the node starts us from a pre-imported interpreter."""
    home = os.getcwd()
    entries = [p for p in os.environ.get('PYTHONPATH', '').split(':') if p]
    for entry in reversed(entries):
        path = os.path.join(home, entry)
        if path not in sys.path:
            sys.path.insert(0, path)


def safe_key(text: str) -> str:
    """A DDFS-safe name (OOB key) made from ``text``."""
    return ''.join(c if c.isalnum() or c in '_-@:' else '_' for c in text)


# -------------------------------------------------------------------- URL helpers
def local_path(url: str, task: Any) -> str | None:
    """:return: the local file behind ``url`` when it is on this host, else None.

    ``disco://HOST/disco/...`` and ``disco://HOST/ddfs/...`` (also ``dir://`` and
    ``http://HOST:PORT/...``) map to ``disco_data``/``ddfs_data``.  Nodes on one
    machine share ``DISCO_DATA``, so a ``disco/`` path that exists is local too.
    """
    if task is None:
        return None
    scheme, sep, rest = url.partition('://')
    if not sep:
        return None
    if scheme == 'file':
        return rest
    if scheme not in ('disco', 'dir', 'http'):
        return None
    netloc, _, path = rest.partition('/')
    path = path.split('#', 1)[0]  # a `#label` fragment names an index entry, not a file
    host = netloc.split(':')[0]
    if path.startswith('disco/') and task.disco_data:
        candidate = os.path.join(task.disco_data, path[len('disco/'):])
        if host == task.host or os.path.exists(candidate):
            return candidate
    if path.startswith('ddfs/') and task.ddfs_data and host == task.host:
        return os.path.join(task.ddfs_data, path[len('ddfs/'):])
    return None


def http_url(url: str, task: Any) -> str:
    """``disco://`` / ``dir://`` URL -> the node's HTTP URL; others unchanged."""
    scheme, sep, rest = url.partition('://')
    if scheme in ('disco', 'dir') and sep:
        netloc, _, path = rest.partition('/')
        if ':' not in netloc:
            port = getattr(task, 'disco_port', None) or _default_port()
            netloc = '{0}:{1}'.format(netloc, port)
        return 'http://{0}/{1}'.format(netloc, path)
    return url


def _default_port() -> str:
    return str(DiscoSettings()['DISCO_PORT'])


def open_bytes(url: str, task: Any) -> io.IOBase:
    """Open ``url`` as a binary stream, reading local files directly."""
    path = local_path(url, task)
    if path is not None:
        try:
            return open(path, 'rb')
        except OSError as error:
            raise DataError(str(error), url) from error
    return io.BytesIO(comm.download(http_url(url, task)))


def read_index(url: str, task: Any) -> list:
    """:return: ``[(label, url, size), ...]`` of a ``dir://`` index file."""
    with open_bytes(url, task) as index:
        data = index.read()
    if data[:2] == b'\x1f\x8b':
        data = gzip.decompress(data)
    entries = []
    for line in data.decode('utf-8').splitlines():
        if line.strip():
            label, entry_url, size = line.split()
            entries.append((int(label), entry_url, int(size)))
    return entries


def expand_input(input: Any, task: Any) -> Iterator[tuple]:
    """Yield ``(label, [url, ...])`` for an input; index files become one entry
    per listed file whose label matches the input's label (or all for 'all')."""
    if input.isindex:
        for label, url, _size in read_index(first_readable(input, task), task):
            if input.label in ('all', label):
                yield label, [url]
    else:
        yield input.label, input.locations


def first_readable(input: Any, task: Any) -> str:
    """:return: the URL of a replica of ``input`` (local preferred)."""
    return next(ReplicaIter(input, task))


def copy_replica(replicas: list, task: Any, target: Any) -> None:
    """Copy the bytes of the first readable replica into ``target``."""
    errors = []
    for url in sorted(replicas, key=lambda u: local_path(u, task) is None):
        copied = 0
        try:
            with open_bytes(url, task) as source:
                while True:
                    block = source.read(1 << 20)
                    if not block:
                        local = local_path(url, task) is not None
                        counters.engine('bytes_local' if local else 'bytes_fetched', copied)
                        counters.engine('inputs', 1)
                        return
                    copied += len(block)
                    target.write(block)
        except DataError as error:
            errors.append(str(error))
    raise DataError("No replica readable: {0}".format('; '.join(errors)), str(replicas))


# ----------------------------------------------------------------------- inputs
class IDedInput(tuple):
    """An input the node gave us: ``(worker, id, label, replicas)``."""

    @property
    def worker(self) -> Any:
        return self[0]

    @property
    def id(self) -> int:
        return self[1]

    @property
    def label(self) -> Any:
        return self[2]

    @property
    def replicas(self) -> list:
        """``[(replica_id, url), ...]``"""
        if len(self) > 3 and self[3] is not None:
            return list(self[3])
        return self.worker.get_input(self.id)

    @property
    def locations(self) -> list:
        return [url for _rid, url in self.replicas]

    @property
    def isindex(self) -> bool:
        return any(url.startswith('dir://') for url in self.locations)

    def unavailable(self, tried: Iterable) -> list:
        """Report failed replicas (INPUT_ERR); :return: replicas still to try.
        :raises DataError: when the node has none left (FAIL)."""
        name, payload = self.worker.exchange('INPUT_ERR', [self.id, sorted(tried)])
        if name == 'RETRY':
            return [(rid, str(url)) for rid, url in payload]
        raise DataError("All replicas of input {0} failed".format(self.id),
                        ' '.join(self.locations))

    def __str__(self) -> str:
        return '{0}'.format(self.locations)


class URLInput(object):
    """An input given as a URL or a list of replica URLs (client side, tests)."""

    def __init__(self, urls: Any, label: Any = 0) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.label = label

    @property
    def replicas(self) -> list:
        return list(enumerate(self.urls))

    @property
    def locations(self) -> list:
        return list(self.urls)

    @property
    def isindex(self) -> bool:
        return any(url.startswith('dir://') for url in self.urls)

    def unavailable(self, tried: Iterable) -> list:
        """No node to ask for more replicas: none left (the reader reports why)."""
        return []

    def __str__(self) -> str:
        return '{0}'.format(self.urls)


def as_input(input: Any) -> Any:
    """IDedInput/URLInput pass through; a URL or list of URLs is wrapped."""
    if isinstance(input, (IDedInput, URLInput)):
        return input
    return URLInput(input)


class ReplicaIter(object):
    """Iterate over the URLs to try for one input: a replica on this host first
    (as a local path: no HTTP), then random untried ones; when none is left,
    report the failed ones (INPUT_ERR) and continue with what the node offers."""

    def __init__(self, input: Any, task: Any = None) -> None:
        self.input = as_input(input)
        self.task = task if task is not None else active_task
        self.used: set = set()
        self.replicas = dict(self.input.replicas)

    def __iter__(self) -> 'ReplicaIter':
        return self

    def __next__(self) -> str:
        untried = [rid for rid in self.replicas if rid not in self.used]
        if not untried:
            self.replicas.update(self.input.unavailable(self.used))
            untried = [rid for rid in self.replicas if rid not in self.used]
            if not untried:
                raise StopIteration
        for rid in untried:
            path = local_path(self.replicas[rid], self.task)
            if path is not None and os.path.exists(path):
                self.used.add(rid)
                return path if not self.replicas[rid].startswith('dir://') else self.replicas[rid]
        rid = random.choice(untried)
        self.used.add(rid)
        return self.replicas[rid]


def default_open(url: str, task: Any = None) -> Any:
    """Open ``url`` with its scheme's input stream (raw records)."""
    return StreamCombiner(url, (task_input_stream,), None)


class InputIter(object):
    """Records of one input.  When a replica fails mid-way (DataError), switch to
    the next replica and skip the records already yielded."""

    def __init__(self, input: Any, task: Any = None, open: Callable | None = None,
                 start: int = 0) -> None:
        self.urls = ReplicaIter(input, task)
        self.open = open or default_open
        self.start = start
        self.errors: list = []
        #: whether each failed replica is a job input that does not exist (not "cannot reach",
        #: and not the cluster's own data, which the master can recompute)
        self.missing: list = []

    def __iter__(self) -> Iterator:
        # the replica loop is this generator itself: a record passes one generator frame,
        # not two (a nested `yield from` cost ~0.1 us per record)
        done = self.start
        try:
            for url in self.urls:
                try:
                    stream = self.open(url)
                except (DataError, OSError) as error:  # this replica is unreadable: try another
                    self._failed(url, error)
                    continue
                # records counted by a counter zipped alongside: no Python loop per record
                counted = itertools.count()
                try:
                    records = iter(stream)
                    if done:
                        _skip(records, done)
                    yield from map(_first, zip(records, counted))
                    count_input(stream, url, next(counted))
                    return
                except (DataError, OSError) as error:
                    self._failed(url, error)
                    done += next(counted)  # the records yielded from this replica
                finally:
                    _close(stream)
        except DataError:  # from the replica list itself
            self._raise_if_not_found()
            raise
        self._raise_if_not_found()
        raise DataError("Unable to read input: {0}".format('; '.join(self.errors)),
                        str(self.urls.input))

    def _raise_if_not_found(self) -> None:
        if self.missing and all(self.missing):
            raise InputNotFound(str(self.urls.input), self.errors) from None

    def _failed(self, url: str, error: Exception) -> None:
        self.errors.append(str(error))
        self.missing.append(is_missing(error) and not url.startswith(CLUSTER_SCHEMES))


#: URLs of data the cluster itself holds (task outputs, DDFS blobs): when missing, the task
#: fails with ERROR so the master can re-run their producers
CLUSTER_SCHEMES = ('disco://', 'dir://')


def is_missing(error: Exception) -> bool:
    """Whether a replica's failure means it does not exist (no point retrying)."""
    if isinstance(error, FileNotFoundError):
        return True
    if isinstance(error, CommError):
        return error.code == 404
    return isinstance(error.__cause__, FileNotFoundError)


def count_input(stream: Any, url: str, records: int) -> None:
    """Engine counters of one input read to its end: records, and bytes read locally or
    fetched from another node (the size its scheme reported)."""
    counters.engine('records_in', records)
    counters.engine('inputs', 1)
    size = getattr(stream, 'size', None)
    if isinstance(size, int) and not isinstance(size, bool):
        opened = str(getattr(stream, 'url', None) or url)
        remote = opened.startswith(('http://', 'https://'))
        counters.engine('bytes_fetched' if remote else 'bytes_local', size)


def _skip(records: Iterator, count: int) -> None:
    for _ in islice(records, count):
        pass


def _close(stream: Any) -> None:
    close = getattr(stream, 'close', None)
    if close is not None:
        close()


class Input(object):
    """An iterable over the records of one input, with replica fallback."""

    def __init__(self, input: Any, task: Any = None, open: Callable | None = None) -> None:
        self.input = input
        self.task = task
        self.open = open

    def __iter__(self) -> Iterator:
        while True:
            try:
                return iter(InputIter(self.input, task=self.task, open=self.open))
            except Wait as wait:
                time.sleep(getattr(wait, 'retry_after', 1))

    def read(self) -> Any:
        return list(self)


class SerialInput(object):
    """The records of several inputs, one input after the other."""

    def __init__(self, inputs: Iterable, task: Any = None, open: Callable | None = None,
                 **kwds: Any) -> None:
        self.inputs = inputs
        self.task = task
        self.open = open

    def __iter__(self) -> Iterator:
        # chained in C: a generator here resumed once per record
        return itertools.chain.from_iterable(Input(input, task=self.task, open=self.open)
                                             for input in self.inputs)


class ParallelInput(SerialInput):
    """The records of several inputs; an input that is not ready yet (Wait) is
    put back and retried after the others."""
    BUSY_TIMEOUT = 1

    def __iter__(self) -> Iterator:
        pending = [Input(input, task=self.task, open=self.open) for input in self.inputs]
        while pending:
            input = pending.pop(0)
            try:
                yield from input
            except Wait:
                if not pending:
                    time.sleep(self.BUSY_TIMEOUT)
                pending.append(input)


class MergedInput(SerialInput):
    """Sorted inputs merged into one sorted stream (heapq.merge)."""

    def __iter__(self) -> Iterator:
        iterators = [iter(Input(input, task=self.task, open=self.open)) for input in self.inputs]
        return heapq.merge(*iterators)


# ---------------------------------------------------------------------- outputs
class BaseOutput(object):
    """An output file ``(path, type, label)``; a label of None means 0."""

    def __init__(self, output: tuple) -> None:
        self.path, self.type, label = output
        self.label = 0 if label is None else label
        self.closed = False

    def size(self) -> int:
        return os.path.getsize(self.path)

    def close(self) -> None:
        self.closed = True


class Output(BaseOutput):
    """An output file opened with ``open(path)`` (default: Disco's record format)."""

    def __init__(self, output: tuple, open: Callable | None = None) -> None:
        super().__init__(output)
        if open is None:
            open = DiscoOutput
        self.file = open(self.path)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.file.close()
