"""Chunking inputs into DDFS from inside a job (Disco's util example): every map task
reads its input with ``DDFS.chunk`` and tags the chunks.

    cd examples/util
    disco run --param tag chunks:logs chunk.LineChunker /path/to/textfile

``params`` is ``Params(tag=..., ddfs_master=...)`` or just the tag name.
"""
from disco.core import Job
from disco.worker.classic.worker import Params


def chunk_into_ddfs(url, params, **chunk_args):
    from disco.ddfs import DDFS
    tag = params if isinstance(params, str) else params.tag
    master = None if isinstance(params, str) else params.ddfs_master
    tag = tag or 'disco:chunks:{0}'.format(Task.jobname)  # noqa: F821 - injected
    yield url, DDFS(master or Task.master).chunk(tag, [url], **chunk_args)  # noqa: F821


def chunk_lines(fd, size, url, params):
    return chunk_into_ddfs(url, params)


def chunk_gzip_lines(fd, size, url, params):
    from disco.worker.task_io import gzip_line_reader
    return chunk_into_ddfs(url, params, reader=gzip_line_reader)


class LineChunker(Job):
    params = Params(ddfs_master=None, tag=None)
    map_input_stream = [chunk_lines]

    @staticmethod
    def map(entry, params):
        yield entry


class GzipLineChunker(LineChunker):
    map_input_stream = [chunk_gzip_lines]
