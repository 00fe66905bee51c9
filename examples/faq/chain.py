"""Chaining jobs: each job reads the results of the one before (Disco's FAQ example).

    python examples/faq/chain.py        # ten jobs, each adding one to the key

``FirstJob`` maps ``raw://`` text to ``(int + 1, "")``; ``ChainJob`` reads Disco-format
results with ``chain_reader`` and adds one again. ``disco.job.JobChain`` runs such a
graph for you (``JobChain({first: ['raw://0'], second: first})``).
"""
from disco.core import Job, result_iterator
from disco.worker.classic.func import chain_reader


class FirstJob(Job):
    input = ['raw://0', 'raw://0']

    @staticmethod
    def map(line, params):
        yield int(line) + 1, ""


class ChainJob(Job):
    map_reader = staticmethod(chain_reader)

    @staticmethod
    def map(key_value, params):
        key, value = key_value
        yield int(key) + 1, value


if __name__ == "__main__":
    last = FirstJob().run()
    for _ in range(9):
        last = ChainJob().run(input=last.wait())
    print(last.name)
    print(sorted(result_iterator(last.wait())))
