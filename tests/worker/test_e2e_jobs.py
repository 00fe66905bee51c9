"""Real jobs on a local cluster (master + nodes as processes), as users run them."""
from __future__ import annotations

import functools

import pytest

from disco.core import Job, result_iterator
from disco.job import JobChain
from disco.test import TestServer
from disco.worker.classic.func import chain_reader, nop_map, sum_combiner
from disco.worker.pipeline.worker import Worker as PipelineWorker
from jobs import classic_params as cp
from jobs import pipelines, wordcount

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

TEXT = ['raw://the quick brown fox', 'raw://the lazy dog', 'raw://the end']
# raw:// inputs reach map as str lines, as in Disco (file and HTTP inputs are bytes lines)
COUNTS = [('brown', 1), ('dog', 1), ('end', 1), ('fox', 1), ('lazy', 1), ('quick', 1),
          ('the', 3)]


def run_sorted(**jobargs):
    job = Job().run(**jobargs)
    return sorted(result_iterator(job.wait(timeout=120)))


def test_word_count(shared_cluster):
    assert run_sorted(input=TEXT, map=wordcount.fun_map, reduce=wordcount.fun_reduce) == COUNTS


def test_word_count_single_node(single_node_cluster):
    assert run_sorted(input=TEXT, map=wordcount.fun_map, reduce=wordcount.fun_reduce) == COUNTS


def test_partitions_combiner_sort(shared_cluster):
    assert run_sorted(input=TEXT, map=cp.words, combiner=sum_combiner, partitions=3,
                      reduce=cp.count_reduce, sort=True) == COUNTS


def test_map_only_and_main_style_lambda(shared_cluster):
    results = run_sorted(input=TEXT, map=lambda line, params: [(line, len(line))])
    assert results == sorted((t[6:], len(t) - 6) for t in TEXT)


def test_closure_and_partial(shared_cluster):
    bonus = 100

    def closure_reduce(iter, params):
        for word, count in wordcount.fun_reduce(iter, params):
            yield word, count + bonus

    def tagged_map(tag, line, params):
        for word in line.split():
            yield word, tag
    results = run_sorted(input=TEXT, map=functools.partial(tagged_map, 1), reduce=closure_reduce)
    assert results == [(word, count + 100) for word, count in COUNTS]


def test_job_chain_and_chain_reader(shared_cluster):
    first = Job(name='first')
    second = Job(name='second')
    chain = JobChain({first: TEXT, second: [first]})
    first.map, first.reduce = wordcount.fun_map, wordcount.fun_reduce
    second.map, second.map_reader = nop_map, chain_reader
    chain.wait(poll_interval=0.2)
    assert sorted(result_iterator(second.wait())) == COUNTS


def test_http_inputs(shared_cluster):
    server = TestServer.create(('127.0.0.1', 0), lambda path: 'x y ' + path + '\n')
    server.start()
    try:
        results = run_sorted(input=server.urls(['a', 'b']), map=wordcount.fun_map,
                             reduce=wordcount.fun_reduce)
    finally:
        server.stop()
    assert results == [(b'a', 1), (b'b', 1), (b'x', 2), (b'y', 2)]


def test_long_raw_input(shared_cluster):
    line = 'word ' * 2000 + 'with spaces and / slashes'
    results = run_sorted(input=['raw://' + line], map=wordcount.fun_map,
                         reduce=wordcount.fun_reduce)
    assert ('word', 2000) in results


@pytest.mark.parametrize('grouping', ['split', 'group_label', 'group_node',
                                      'group_node_label', 'group_all'])
def test_pipeline_groupings(shared_cluster, grouping):
    job = Job(worker=PipelineWorker())
    job.run(input=[[t] for t in TEXT],
            pipeline=[('split', pipelines.map_stage()),
                      (grouping, pipelines.reduce_stage(combine=True, sort=True))])
    totals = {}
    for word, count in result_iterator(job.wait(timeout=120)):
        totals[word] = totals.get(word, 0) + count
    assert sorted(totals.items()) == COUNTS


def test_failing_job_reports_traceback(shared_cluster):
    job = Job().run(input=['raw://x'], map=cp.failing_map_fatal)
    with pytest.raises(Exception) as failure:
        job.wait(timeout=120)
    assert 'dead' in str(failure.value)


MAIN_SCRIPT = '''
from disco.core import Job, result_iterator
from disco.util import kvgroup

class WordCount(Job):
    partitions = 2

    @staticmethod
    def map(line, params):
        for word in line.split():
            yield word, 1

    @staticmethod
    def reduce(iter, params):
        for word, counts in kvgroup(sorted(iter)):
            yield word, sum(counts)

if __name__ == '__main__':
    job = WordCount().run(input=['raw://a b a'])
    print(sorted(result_iterator(job.wait(timeout=120))))
'''


def test_job_class_defined_in_main(shared_cluster, tmp_path):
    import subprocess
    import sys
    script = tmp_path / 'wc_main.py'
    script.write_text(MAIN_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=150)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[('a', 2), ('b', 1)]"


def test_pipeline_shuffle_hunks_are_uncompressed(shared_cluster):
    # a stage's outputs that only the next stage reads are written without zlib
    # (docs/benchmarks.md, "Seventh round: the Stage API's shuffle")
    job = Job(worker=PipelineWorker())
    job.run(input=[[t] for t in TEXT],
            pipeline=[('split', pipelines.map_stage()), ('group_all', pipelines.flags_stage())])
    assert list(result_iterator(job.wait(timeout=120))) == [('flags', [0])]
