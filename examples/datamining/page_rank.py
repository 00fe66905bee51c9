"""Iterative PageRank (Disco's datamining example, itself ported from mrjob).

Each input line is ``node_id score neighbour weight neighbour weight ...``::

    printf '0 1\n1 1 2 1\n2 1 1 1\n3 1 0 0.5 1 0.5\n' | ddfs chunk pages -
    python examples/datamining/page_rank.py --iterations 10 pages

The first pass reads the lines of the chunks; every later pass reads the Disco-format
results of the one before (``chain_reader``), whose values are the same lines.
"""
import argparse

from disco.core import Job, result_iterator
from disco.worker.classic.worker import Params
from disco.worker.task_io import chain_reader


def send_score(line, params):
    """Map: a node's own line, and its score shared among its neighbours."""
    if isinstance(line, tuple):          # a record of the previous pass: (node_id, line)
        line = line[1]
    if isinstance(line, bytes):
        line = line.decode('utf-8')
    fields = line.split()
    node_id, score = int(fields[0]), float(fields[1])
    yield node_id, ('n', ' '.join(fields[2:]))
    for i in range(2, len(fields), 2):
        yield int(fields[i]), ('s', score * float(fields[i + 1]))


def receive_score(iter, params):
    """Reduce: the damped sum of what a node received, with its neighbour list."""
    from disco.util import kvgroup
    damping = params.damping_factor
    for node_id, values in kvgroup(sorted(iter)):
        received, neighbours = 0.0, ''
        for kind, value in values:
            if kind == 's':
                received += value
            else:
                neighbours = value
        score = 1 - damping + damping * received
        yield node_id, '{0} {1} {2}'.format(node_id, score, neighbours)


def page_rank(inputs, iterations, damping_factor):
    params = Params(damping_factor=damping_factor)
    results = inputs
    for _ in range(iterations):
        job = Job().run(input=results, map=send_score, map_reader=chain_reader,
                        reduce=receive_score, params=params)
        results = job.wait()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iterations', type=int, default=10)
    parser.add_argument('--damping-factor', type=float, default=0.85)
    parser.add_argument('inputs', nargs='+', help='tags or URLs of Disco-format chunks')
    options = parser.parse_args()
    results = page_rank(options.inputs, options.iterations, options.damping_factor)
    for _node_id, line in sorted(result_iterator(results)):
        fields = line.split()
        print(fields[0], ':', fields[1])


if __name__ == '__main__':
    main()
