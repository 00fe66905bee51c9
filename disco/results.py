"""
:mod:`disco.results` -- reading job results
===========================================

:func:`result_iterator` reads the records of job results (``dir://`` index
files, ``tag://`` tags, any input URL) with the worker's input readers.
Users import it from :mod:`disco.core` (Disco's name); :mod:`disco.client`
uses it for :meth:`~disco.client.Disco.result_iterator`.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from disco import util
from disco.settings import DiscoSettings
from disco.worker import Input
from disco.worker.classic.func import chain_reader, map_input_stream, notifier
from disco.worker.task_io import StreamCombiner


def result_iterator(urls: Iterable, reader: Any = chain_reader,
                    input_stream: Iterable = (map_input_stream,), notifier: Any = notifier,
                    params: Any = None, ddfs: Any = None) -> Iterator:
    """Yield the records of ``urls`` (job results, tags, any input URLs)."""
    streams = [stream for stream in list(input_stream) + [reader] if stream]

    def open(url: str) -> StreamCombiner:
        return StreamCombiner(url, streams, params)
    for replicas in result_inputs(urls, ddfs=ddfs):
        notifier(replicas)
        yield from Input(replicas, open=open)


def result_inputs(urls: Iterable, ddfs: Any = None) -> Iterator[list]:
    """The replica lists to read for ``urls``: ``tag://`` and ``dir://`` expanded
    (``util.inputlist``), proxied, and without the ``#label`` suffix the master may put
    on a data output's URL (the file holds that label only)."""
    settings = _ddfs_settings(ddfs)
    for input in util.inputlist(_untangle_tags(urls), label=None, settings=settings):
        yield [util.proxy_url(strip_label(url), to_master=False) for url in util.iterify(input)]


def _ddfs_settings(ddfs: Any) -> DiscoSettings | None:
    """Settings whose DISCO_MASTER is ``ddfs`` (a master URL), for tag expansion."""
    if not ddfs:
        return None
    settings = DiscoSettings()
    settings['DISCO_MASTER'] = ddfs if isinstance(ddfs, str) else ddfs.master
    return settings


def _untangle_tags(urls: Iterable) -> list:
    """A replica list of tags (``[["tag://a"]]``) is the tags themselves: a tag has no
    replicas, and ``util.inputexpand`` would otherwise nest its blobs one level deeper."""
    flat = []
    for input in util.iterify(urls):
        if util.isiterable(input):
            items = list(input)
            if items and all(util.istag(item) for item in items):
                flat.extend(items)
                continue
        flat.append(input)
    return flat


def strip_label(url: str) -> str:
    """``disco://h/path#3`` -> ``disco://h/path`` (index and raw URLs are left alone)."""
    if isinstance(url, str) and url.startswith(_LABELLED_SCHEMES) and '#' in url:
        return url.rpartition('#')[0]
    return url


_LABELLED_SCHEMES = ('disco://', 'http://', 'https://')
