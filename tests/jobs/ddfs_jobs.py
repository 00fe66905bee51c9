"""Job functions for tests/integration/test_ddfs_jobs.py (importable on the nodes).

`put`, `get`, `this_name` and `this_partition` are globals the classic worker injects into
job functions (DISCO.md §1.5), as Disco's own tests use them.
"""
from disco.util import kvgroup


def oob_map(line, params):
    words = (line.decode('utf-8') if isinstance(line, bytes) else line).split()
    put('last-' + words[-1], str(len(words)))  # noqa: F821 - injected by the worker
    for word in words:
        yield word, 1


def oob_reduce(iter, params):
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)
    for key in ('last-fox', 'last-dog', 'last-end'):
        yield key, get(key)  # noqa: F821 - injected by the worker
    put('reduce-done', this_name())  # noqa: F821 - injected by the worker


def line_map(line, params):
    """Map over lines read from a blob (bytes with a newline) or a chunk record."""
    if isinstance(line, bytes):
        line = line.decode('utf-8')
    for word in line.split():
        yield word, 1


def sum_reduce(iter, params):
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(int(c) for c in counts)
