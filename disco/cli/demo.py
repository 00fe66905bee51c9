"""`disco demo`: word count on a generated corpus, on a local cluster (layer: top).

The corpus is generated, not shipped (:mod:`disco.cli.corpus`). The job is Disco's tutorial word
count. If no master answers at DISCO_MASTER, the demo
starts one with the embedded defaults (master plus one co-located node on localhost) and
stops it afterwards. Inputs are `file://` URLs, so the demo expects the nodes to run on
this machine (always true for a cluster the demo starts itself).
"""
from __future__ import annotations

import logging
import os
import time
from collections import Counter

import click

from disco.cli import daemon
from disco.cli.program import wait_for_job
from disco.cli.corpus import expected_counts, generate_lines, write_corpus  # noqa: F401
from disco.job import Job

log = logging.getLogger(__name__)

def map_words(line, params):
    """Disco's tutorial map: one (word, 1) per word of the line."""
    for word in line.split():
        yield word, 1


def reduce_counts(iter, params):
    """Disco's tutorial reduce: sum the counts of each word."""
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


class WordCount(Job):
    """The tutorial word count as a Job class (importable by the nodes)."""

    map = staticmethod(map_words)
    reduce = staticmethod(reduce_counts)


def wait_for_nodes(disco, timeout: float = 60.0) -> int:
    """Wait until at least one node is connected; return how many are."""
    deadline = time.monotonic() + timeout
    while True:
        connected = sum(1 for info in disco.nodeinfo().values() if info.get("connected"))
        if connected:
            return connected
        if time.monotonic() > deadline:
            raise daemon.DaemonError(f"no node connected to the master within {timeout:g} s; "
                                     f"see the logs in the DISCO_LOG_DIR")
        time.sleep(0.2)


def as_text(word) -> str:
    return word.decode("utf-8", "replace") if isinstance(word, bytes) else str(word)


def run_demo(program, size: int = 300_000, top: int = 10, keep: bool = False) -> Counter:
    """Start a cluster if needed, count words, print the top ones, stop what we started."""
    settings = program.settings
    master = daemon.Master(settings)
    started = False
    if not daemon.master_answers(settings.get_str("DISCO_MASTER")):
        click.echo(f"No master at {settings['DISCO_MASTER']}: starting a local cluster")
        for message in master.start():
            click.echo(message)
        started = True
    try:
        wait_for_nodes(program.disco)
        paths = write_corpus(os.path.join(settings.get_path("DISCO_ROOT"), "demo"), size)
        inputs = [f"file://{os.path.abspath(p)}" for p in paths]
        job = WordCount(master=settings.get_str("DISCO_MASTER"), settings=settings)
        job.run(input=inputs)
        click.echo(f"Running {job.name}: word count over {len(paths)} files ({size} bytes)")
        started_at = time.monotonic()
        results = wait_for_job(program, job.name)
        counts = read_counts(results, settings)
        click.echo(f"Done in {time.monotonic() - started_at:.1f} s; "
                   f"{len(counts)} distinct words. Top {top}:")
        for word, count in counts.most_common(top):
            click.echo(f"{count:8d}  {word}")
        return counts
    finally:
        if started and not keep:
            for message in master.stop():
                click.echo(message)


def read_counts(results, settings) -> Counter:
    from disco.core import result_iterator
    counts: Counter = Counter()
    for word, count in result_iterator(results):
        counts[as_text(word)] += int(count)
    return counts
