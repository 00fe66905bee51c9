"""
:mod:`disco.jobpack` -- the user's job pack object
==================================================

:class:`JobPack` is Disco's ``disco.job.JobPack`` (DISCO.md §2.6): the five
sections of a job pack, packed and parsed by :mod:`disco.protocol.jobpack`.
It lives apart from :mod:`disco.job` so that the master client
(:mod:`disco.client`) can load a job's pack without importing jobs;
:mod:`disco.job` re-exports it under Disco's name.
"""
from __future__ import annotations

import io
import struct
from typing import Any, BinaryIO

from disco import JOBPACK_VERSION1
from disco.error import JobPackError
from disco.protocol import jobpack as jobpack_codec


class JobPack(object):
    """A job pack (DISCO.md §2.6): ``(version, jobdict, jobenvs, jobhome, jobdata)``."""
    MAGIC = jobpack_codec.MAGIC << 16
    MAGIC_MASK = 0xffff << 16
    VERSION = JOBPACK_VERSION1
    HEADER_FORMAT = jobpack_codec.HEADER_FORMAT
    HEADER_SIZE = jobpack_codec.HEADER_SIZE

    def __init__(self, version: int, jobdict: dict, jobenvs: dict, jobhome: bytes,
                 jobdata: bytes) -> None:
        self.version = version
        self.jobdict = jobdict
        self.jobenvs = jobenvs
        self.jobhome = jobhome
        self.jobdata = jobdata

    @classmethod
    def header(cls, offsets: Any, magic: int | None = None, version: int | None = None,
               **kwargs: Any) -> bytes:
        version = cls.VERSION if version is None else version
        if magic is None:
            return jobpack_codec.header(tuple(offsets), version)
        table = struct.pack(cls.HEADER_FORMAT, magic | version, *offsets)
        return table + b'\0' * (cls.HEADER_SIZE - len(table))

    def dumps(self) -> bytes:
        """:return: the job pack bytes (the body of ``POST /disco/job/new``)."""
        return jobpack_codec.pack(self.version, self.jobdict, self.jobenvs,
                                  self.jobhome, self.jobdata)

    def contents(self, offset: int = HEADER_SIZE) -> tuple:
        """:return: ``(offsets, body)`` of the sections packed from ``offset``."""
        data = self.dumps()
        _version, offsets = jobpack_codec.read_header(data)
        shift = offset - self.HEADER_SIZE
        return tuple(o + shift for o in offsets), data[self.HEADER_SIZE:]

    @classmethod
    def offsets(cls, jobfile: BinaryIO) -> tuple:
        jobfile.seek(0)
        magic_version, *offsets = struct.unpack_from(cls.HEADER_FORMAT,
                                                     jobfile.read(cls.HEADER_SIZE))
        if magic_version & cls.MAGIC_MASK != cls.MAGIC or offsets[0] != cls.HEADER_SIZE \
                or offsets != sorted(offsets):
            raise JobPackError("invalid header")
        return tuple(offsets)

    @classmethod
    def load(cls, jobfile: BinaryIO) -> 'JobPack':
        """Read a job pack from a binary file object."""
        jobfile.seek(0)
        parts = jobpack_codec.parse(jobfile.read(), validate=False)
        return cls(parts.version, parts.jobdict, parts.jobenvs, parts.jobhome, parts.jobdata)

    @classmethod
    def loads(cls, data: bytes) -> 'JobPack':
        return cls.load(io.BytesIO(data))
