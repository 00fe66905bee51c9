"""The classic worker run as a real ``disco-worker`` process by a fake node
(the test answers the worker protocol; see fakenode.py)."""
from __future__ import annotations

import pytest

from disco.job import Job
from disco.worker.classic.func import sum_combiner
from disco.worker.classic.worker import Params
from jobs import classic_params as cp
from jobs import wordcount
from worker.fakenode import FakeNode

pytestmark = pytest.mark.timeout(120)

LINES = ['raw://a b a', 'raw://c a b', 'raw://d']


def node_for(tmp_path, job=None, **jobargs) -> FakeNode:
    job = job or Job()
    return FakeNode(tmp_path, job.make_jobpack(**jobargs).dumps())


def run_map_reduce(node: FakeNode, inputs=LINES, partitions=1):
    """map per input, map_shuffle, then one reduce per label: like the master."""
    maps = [node.run_task('map', [(0, [url])]) for url in inputs]
    assert all(m.status == 'DONE' for m in maps), [(m.status, m.payload) for m in maps]
    shuffle = node.run_task('map_shuffle', [('all', [m.index_url]) for m in maps],
                            grouping='group_node', group=(0, node.host))
    assert shuffle.status == 'DONE', shuffle.payload
    reduces = []
    labels = sorted({label for label, _path, _size in shuffle.outputs})
    for label in labels:
        grouping = 'group_all' if partitions == 1 else 'group_label'
        run = node.run_task('reduce', [(label, [shuffle.index_url])], grouping=grouping,
                            group=(label, ''))
        assert run.status == 'DONE', run.payload
        reduces.append(run)
    return maps, shuffle, reduces


def test_word_count_map_shuffle_reduce(tmp_path):
    node = node_for(tmp_path, input=LINES, map=wordcount.fun_map, reduce=wordcount.fun_reduce)
    maps, shuffle, reduces = run_map_reduce(node)
    assert node.records(maps[0]) == [('a', 1), ('b', 1), ('a', 1)]
    assert [label for label, _p, _s in maps[0].outputs] == [0]
    assert 'Done: 1 entries mapped' in maps[0].messages
    assert 'Results sent to master' in maps[0].messages
    assert any(m.startswith('Shuffled 3 inputs into 1 label') for m in shuffle.messages)
    assert node.records(reduces[0]) == [('a', 3), ('b', 2), ('c', 1), ('d', 1)]


def test_partitions_and_three_argument_reduce(tmp_path):
    node = node_for(tmp_path, input=LINES, map=cp.words, reduce=cp.count_reduce,
                    partitions=3, partition=cp.first_letter_partition)
    maps, shuffle, reduces = run_map_reduce(node, partitions=3)
    labels = sorted(label for label, _p, _s in shuffle.outputs)
    assert labels == [0, 1, 2]
    results = {label: node.records(run) for label, run in zip(labels, reduces)}
    assert results == {0: [('c', 1)], 1: [('a', 3), ('d', 1)], 2: [('b', 2)]}


def test_combiner_including_final_call(tmp_path):
    node = node_for(tmp_path, input=LINES, map=cp.words, combiner=sum_combiner)
    run = node.run_task('map', [(0, ['raw://a b a a'])])
    assert run.status == 'DONE', run.payload
    assert sorted(node.records(run)) == [('a', 3), ('b', 1)]


def test_sort_orders_reduce_input(tmp_path):
    lines = ['raw://' + ' '.join(w for w in 'q w e r t y u i o p'.split()[i::3])
             for i in range(3)]
    node = node_for(tmp_path, input=lines, map=cp.words, reduce=cp.sorted_reduce, sort=True,
                    sort_buffer_size=1)
    _maps, _shuffle, reduces = run_map_reduce(node, inputs=lines)
    keys = [key for key, _value in node.records(reduces[0])]
    assert keys == sorted(keys) and len(keys) == 10


def test_params_and_job_class_attributes(tmp_path):
    node = node_for(tmp_path, job=cp.ParamsJob(), input=['raw://x'])
    run = node.run_task('map', [(0, ['raw://x\ny\nz'])])
    assert run.status == 'DONE', run.payload
    assert sorted(node.records(run)) == [('x', 10), ('y', 20), ('z', 30)]


def test_injected_globals(tmp_path):
    node = node_for(tmp_path, input=['raw://a'], map=cp.globals_map, partitions=None)
    run = node.run_task('map', [(0, ['raw://abc'])], group=(0, 'localhost'))
    assert run.status == 'DONE', run.payload
    [(name, value)] = node.records(run)
    assert name == node.jobname and value == ['map', 0, True, '/']


def test_map_init(tmp_path):
    node = node_for(tmp_path, input=['raw://a'], map=cp.init_map, map_init=cp.set_initialized,
                    params=Params(initialized=False))
    run = node.run_task('map', [(0, ['raw://x'])])
    assert node.records(run) == [('x', True)]


def test_status_interval_messages(tmp_path):
    node = node_for(tmp_path, input=['raw://a'], map=cp.words, status_interval=2)
    run = node.run_task('map', [(0, ['raw://a\nb\nc\nd\ne'])])
    assert [m for m in run.messages if 'entries mapped' in m] == \
        ['2 entries mapped', '4 entries mapped', 'Done: 5 entries mapped']


def test_data_error_is_error_and_others_fatal(tmp_path):
    node = node_for(tmp_path, input=['raw://a'], map=cp.failing_map_data)
    run = node.run_task('map', [(0, ['raw://x'])])
    assert run.status == 'ERROR' and 'simulated data problem' in run.payload
    node = node_for(tmp_path / 'b', input=['raw://a'], map=cp.failing_map_fatal)
    run = node.run_task('map', [(0, ['raw://x'])])
    assert run.status == 'FATAL'
    assert 'user code blew up' in run.payload and 'failing_map_fatal' in run.payload


def test_print_and_stray_output_become_messages(tmp_path):
    node = node_for(tmp_path, input=['raw://a'], map=cp.printing_map)
    run = node.run_task('map', [(0, ['raw://x'])])
    assert run.status == 'DONE' and "hello from map x" in run.messages
    node = node_for(tmp_path / 'b', input=['raw://a'], map=cp.stray_output_map)
    run = node.run_task('map', [(0, ['raw://x'])])
    assert run.status == 'DONE', run.payload
    assert 'raw fd output' in run.messages


def test_lambda_closure_and_partial(tmp_path):
    import functools
    suffix = '!'

    def closure_map(line, params):
        yield line + suffix, 1

    def tagged(tag, line, params):
        yield line, tag
    for fun, expected in [(lambda line, params: [(line, len(line))], ('xy', 2)),
                          (closure_map, ('xy!', 1)),
                          (functools.partial(tagged, 'T'), ('xy', 'T'))]:
        node = node_for(tmp_path / str(id(fun)), input=['raw://a'], map=fun)
        run = node.run_task('map', [(0, ['raw://xy'])])
        assert run.status == 'DONE', run.payload
        assert node.records(run) == [expected]


def test_replica_fallback_skips_bad_replica(tmp_path):
    node = node_for(tmp_path, input=['raw://a'], map=cp.words)
    missing = 'disco://localhost/disco/localhost/00/none/nofile'
    run = node.run_task('map', [(0, [missing, 'raw://ok'])])
    assert run.status == 'DONE', run.payload
    assert node.records(run) == [('ok', 1)]


def test_all_replicas_failing_is_an_error(tmp_path):
    node = node_for(tmp_path, input=['raw://a'], map=cp.words)
    missing = 'disco://localhost/disco/localhost/00/none/nofile'
    run = node.run_task('map', [(0, [missing])])
    assert run.status == 'ERROR'
    assert run.input_errors == [[0, [0]]]
