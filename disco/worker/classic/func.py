"""
:mod:`disco.worker.classic.func` -- functions for classic map/reduce jobs
=========================================================================

Interface stubs documenting the signatures job functions must have, and the
ready-made functions Disco ships (DISCO.md §1.6).  Everything here, plus all
of :mod:`disco.worker.task_io` and the module ``re``, is visible to job
functions as globals (the classic worker injects this module's names).
"""
import re  # noqa: F401  -- a global Disco's job functions rely on (e.g. test_profile)
from hashlib import md5

# Disco's func module imports these, and the classic worker injects its names into the job
# functions: Disco's own tests call bytes_to_str without importing it.
from disco import JOBPACK_VERSION1  # noqa: F401
from disco.compat import (UnpicklingError, bytes_to_str,  # noqa: F401
                          pickle_dumps, pickle_loads, sort_cmd, str_to_bytes)
from disco.error import DataError  # noqa: F401
from disco.worker.task_io import *  # noqa: F401,F403
from disco.worker.task_io import task_input_stream, task_output_stream


def notifier(urls):
    """Called by :func:`disco.core.result_iterator` with each input's URLs."""


def map(entry, params):
    """Returns an iterable of ``(key, value)`` pairs for one input ``entry``."""


def partition(key, nr_partitions, params):
    """Returns an integer in ``0..nr_partitions-1`` for ``key``."""


def combiner(key, value, buffer, done, params):
    """Called for every map output pair with a per-partition ``buffer`` dict;
    finally once with ``done=True`` (and key/value None).  Returns an iterable
    of pairs to output, or None."""


def reduce(input_stream, output_stream, params):
    """Reads pairs from ``input_stream``, writes with ``output_stream.add(k, v)``."""


def reduce2(input_stream, params):
    """Alternative reduce: returns an iterable of output pairs."""


def init(input_iter, params):
    """Called once before map/reduce processes its input (deprecated)."""


def persistent_hash(key):
    """A hash of ``key`` that is the same in every process (md5, as Disco)."""
    if isinstance(key, str):
        key = key.encode('utf-8')
    elif not isinstance(key, (bytes, bytearray)):
        key = repr(key).encode('utf-8')
    return int.from_bytes(md5(key).digest(), 'big')


def default_partition(key, nr_partitions, params):
    """The default partition function: ``persistent_hash(key) % nr_partitions``."""
    return persistent_hash(key) % nr_partitions


def make_range_partition(min_val, max_val):
    """Returns a partition function that spreads integer keys in
    ``[min_val, max_val]`` evenly over the partitions (Disco's version built a
    function with the wrong arity; this one takes the usual three arguments)."""
    span = float(max_val - min_val) or 1.0

    def range_partition(key, nr_partitions, params):
        return int(round((int(key) - min_val) / span * (nr_partitions - 1)))
    return range_partition


def noop(*args, **kwargs):
    pass


def nop_map(entry, params):
    """Yields the entry itself."""
    yield entry


def nop_reduce(iter, out, params):
    """Writes every input pair to the output unchanged."""
    for key, value in iter:
        out.add(key, value)


def sum_combiner(key, value, buf, done, params):
    """Sums the (integer) values of each key within a map task."""
    if done:
        return buf.items()
    buf[key] = buf.get(key, 0) + int(value)


def sum_reduce(iter, params):
    """Sums the (integer) values of each key."""
    totals = {}
    for key, value in iter:
        totals[key] = totals.get(key, 0) + int(value)
    return totals.items()


map_input_stream = reduce_input_stream = task_input_stream
map_output_stream = reduce_output_stream = task_output_stream
