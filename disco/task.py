"""
:mod:`disco.task` -- the task a worker runs, as the node describes it
=====================================================================

A :class:`Task` is built on the node from the ``TASK`` reply of the worker
protocol (DISCO.md §2.2).  It knows where the job home and the task's own
working directory are, how its output files are named, and gives job code
access to out-of-band (OOB) results.

File names are derived from the stage, group, task id, a time hash and the
pid -- never from input URLs, so any input URL works (README "Observed").
"""
from __future__ import annotations

import os
import re
import struct
import time
from io import BytesIO
from typing import Any

from disco import dPickle
from disco.ddfs import DDFS
from disco.error import DiscoError
from disco.protocol import jobpack as jobpack_codec
from disco.settings import DiscoSettings
from disco.urls import hexhash

_UNSAFE = re.compile(r'[^A-Za-z0-9_\-@:.]')
_SAFE = frozenset('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-@:.')


def jobdata(*objs: Any) -> bytes:
    """:return: the job data bytes that rebuild ``objs`` on the node."""
    return dPickle.dumps(objs, -1)


def safe_name(text: str) -> str:
    """Replace characters that do not belong in a file name."""
    if _SAFE.issuperset(text):  # the usual case, without the regular expression engine
        return text
    return _UNSAFE.sub('_', text)


def read_jobdata(jobfile: str) -> bytes:
    """:return: the jobdata section of the job pack file at ``jobfile``.

    Only the header and the jobdata are read (the job home zip in between may be large,
    and every task reads this); a header that does not look right gets the full parse,
    which raises the codec's error."""
    with open(jobfile, 'rb') as handle:
        head = handle.read(jobpack_codec.HEADER_SIZE)
        data_at = _jobdata_offset(head, os.fstat(handle.fileno()).st_size)
        if data_at is None:
            return jobpack_codec.parse(head + handle.read(), validate=False).jobdata
        handle.seek(data_at)
        return handle.read()


def preload_jobobjs(jobfile: str) -> Any:
    """Unpickle the jobdata of the job pack at ``jobfile`` and keep the objects for
    :attr:`Task.jobobjs` of the tasks this process forks (a job's zygote on a node): a
    forked task gets a copy-on-write copy of them, so what a task changes in its job
    objects no other task sees, and no task reads and unpickles the job again.

    :return: the objects (``(job, jobargs)``)."""
    global _preloaded
    _preloaded = None
    identity = _file_identity(jobfile)
    objs = dPickle.loads(read_jobdata(jobfile))
    _preloaded = (identity, objs)
    return objs


def _file_identity(path: str) -> tuple:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


#: ``(file identity, objects)`` of :func:`preload_jobobjs`
_preloaded: tuple | None = None


def _jobdata_offset(head: bytes, size: int) -> int | None:
    if len(head) < jobpack_codec.HEADER_SIZE:
        return None
    magic_version, dict_at, envs_at, home_at, data_at = struct.unpack_from(
        jobpack_codec.HEADER_FORMAT, head)
    if (magic_version >> 16 != jobpack_codec.MAGIC or dict_at != jobpack_codec.HEADER_SIZE
            or not dict_at < envs_at <= home_at <= data_at <= size):
        return None
    return data_at


class Task(object):
    """The task a worker runs (the ``TASK`` payload plus derived paths).

    Attributes mirror Disco's: ``host``, ``jobfile``, ``jobname``, ``master``,
    ``disco_port``, ``put_port``, ``ddfs_data``, ``disco_data``, ``stage``,
    ``grouping``, ``group`` (the string ``"<label>-<host>"``), ``group_label``,
    ``group_host``, ``taskid`` and ``uid`` (unique per task run).
    """

    def __init__(self, host: str = '', jobfile: str = '', jobname: str = '',
                 master: str | None = None, disco_port: int | None = None,
                 put_port: int | None = None, ddfs_data: str = '', disco_data: str = '',
                 stage: str | None = None, group: Any = None, grouping: str | None = None,
                 taskid: int = -1, **extra: Any) -> None:
        self.host = host
        self.jobfile = jobfile
        self.jobname = jobname
        self.master = master
        self.disco_port = disco_port
        self.put_port = put_port
        self.ddfs_data = ddfs_data
        self.disco_data = disco_data
        self.stage = stage
        self.grouping = grouping
        self.taskid = taskid
        self.extra = extra
        self.group_label, self.group_host = _split_group(group)
        self.group = '{0}-{1}'.format(self.group_label, self.group_host)
        self.outputs: dict = {}
        stamp = hexhash(str(time.time()).encode())
        self.uid = '{0}:{1}-{2}-{3}-{4}'.format(stage, safe_name(self.group), taskid,
                                                stamp, os.getpid())
        self._jobobjs = None

    @property
    def mode(self) -> str | None:
        """Disco's older name for the stage."""
        return self.stage

    @property
    def jobobjs(self) -> Any:
        """The objects pickled into the job pack's jobdata (``(job, jobargs)``): those of
        :func:`preload_jobobjs` when they came from this very file (same device, inode,
        size, modification and change times) and no other task of this process took them,
        else unpickled now."""
        global _preloaded
        if self._jobobjs is None and self.jobfile:
            preloaded = _preloaded
            if preloaded is not None and _same_file(self.jobfile, preloaded[0]):
                _preloaded = None  # this task's own from now on
                self._jobobjs = preloaded[1]
            else:
                self._jobobjs = dPickle.loads(read_jobdata(self.jobfile))
        return self._jobobjs

    @property
    def jobpath(self) -> str:
        """The job home, relative to ``disco_data``."""
        return os.path.join(self.host, hexhash(self.jobname.encode()), self.jobname)

    @property
    def taskpath(self) -> str:
        """The task's working directory, relative to the job home."""
        return os.path.join(hexhash(self.uid.encode()), self.uid)

    def makedirs(self) -> None:
        os.makedirs(self.taskpath, exist_ok=True)

    def output_filename(self, label: Any) -> str:
        return '{0}-{1}-{2}'.format(self.stage, safe_name(self.group), label)

    def output_path(self, label: Any) -> str:
        return self.path(self.output_filename(label))

    def output(self, label: Any = None, typ: str = 'disco') -> tuple:
        """:return: ``(path, type, label)`` of the output file for ``label``."""
        if label is None:
            return self.path(self.uid), typ, 0
        return self.output_path(label), 'part', label

    def path(self, name: str) -> str:
        """:return: ``name`` joined to :attr:`taskpath`."""
        return os.path.join(self.taskpath, name)

    def url(self, name: str, scheme: str = 'disco') -> str:
        return '{0}://{1}/disco/{2}/{3}/{4}'.format(scheme, self.host, self.jobpath,
                                                   self.taskpath, name)

    def environ(self) -> dict:
        """The cluster settings this task runs with, as environment strings.

        The node gives a worker an environment without Disco's settings (as Disco); the
        worker puts these back (unless the job's own jobenvs set them) so that
        ``DiscoSettings()`` in job code -- :mod:`disco.ddfs`, ``util.load_oob`` -- talks
        to this cluster's master and ports."""
        values = {'DISCO_MASTER': self.master, 'DISCO_PORT': self.disco_port,
                  'DDFS_PUT_PORT': self.put_port, 'DISCO_DATA': self.disco_data,
                  'DDFS_DATA': self.ddfs_data}
        return {key: str(value) for key, value in values.items() if value}

    def export_settings(self, environ: Any = None) -> None:
        """Add :meth:`environ` to ``environ`` (default ``os.environ``), keeping set values."""
        target = os.environ if environ is None else environ
        for key, value in self.environ().items():
            target.setdefault(key, value)

    @property
    def ddfs(self) -> DDFS:
        """A DDFS client for this task's master and ports."""
        settings = DiscoSettings(**self.environ())
        return DDFS(self.master, settings=settings)

    def get(self, key: str) -> bytes:
        """:return: the out-of-band value stored under ``key`` by this job (the newest).

        Values put by tasks still running may not be visible yet (tag updates are
        delayed); read OOB values of an earlier stage or of a finished job."""
        blobs = self.ddfs.pull(DDFS.job_oob(self.jobname), blobfilter=lambda name: name == key)
        for blob in blobs:
            with blob:
                return blob.read()
        raise DiscoError("Unknown key or jobname")

    def put(self, key: str, value: bytes) -> None:
        """Store ``value`` as an out-of-band result under ``key``."""
        if DDFS.safe_name(key) != key:
            raise DiscoError("OOB key contains invalid characters ({0})".format(key))
        if isinstance(value, str):
            value = value.encode('utf-8')
        self.ddfs.push(DDFS.job_oob(self.jobname), [(BytesIO(value), key)], delayed=True)


def _same_file(path: str, identity: tuple) -> bool:
    try:
        return _file_identity(path) == identity
    except OSError:
        return False


def _split_group(group: Any) -> tuple:
    """``[label, host]`` (the protocol form) or ``"label-host"`` -> ``(label, host)``."""
    if group is None:
        return 0, ''
    if isinstance(group, str):
        label, _, host = group.partition('-')
        return (int(label) if label.lstrip('-').isdigit() else label), host
    label, host = group
    return label, host or ''
