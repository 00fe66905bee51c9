"""DDFS and jobs together, on a real cluster (master + 3 node processes).

* `save_results` (classic and pipeline jobs): the last stage's outputs are uploaded to DDFS
  by the nodes and tagged `disco:results:<job>` by the master; `result_iterator`,
  `ddfs xcat` and a follow-up job read them.
* `tag://` inputs (a tag of tags, read token in the URL) and `ddfs chunk` + `chain_reader`.
* OOB results (`put`/`get` in tasks, `oob_list`, `oob_get`, `disco oob`), `profile=True`
  with `profile_stats`.
* external programs (a C word count built with gcc), `Disco.events`/`EventMonitor` and
  `job.wait(show=...)`, and `disco.test.TestRunner` running a Disco-style test module.
"""
from __future__ import annotations

import io
import os
import pstats
import shutil
import subprocess
import sys
import uuid

import pytest
from jobs import ddfs_jobs, pipelines, wordcount

from disco.core import Disco, result_iterator
from disco.ddfs import DDFS
from disco.error import CommError, DiscoError
from disco.eventmonitor import EventMonitor
from disco.job import Job
from disco.test import TestRunner
from disco.testing.cluster import run_cli
from disco.util import external
from disco.worker.classic.func import chain_reader, nop_map
from disco.worker.pipeline.worker import Worker as PipelineWorker

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

JOB_TIMEOUT = 120
TEXT = ['raw://the quick brown fox', 'raw://the lazy dog', 'raw://the end']
# raw:// inputs reach map as str lines, as in Disco
COUNTS = [('brown', 1), ('dog', 1), ('end', 1), ('fox', 1), ('lazy', 1), ('quick', 1),
          ('the', 3)]
STR_COUNTS = COUNTS
C_SOURCE = os.path.join(os.path.dirname(ddfs_jobs.__file__), 'ext_wordcount.c')


def unique(prefix: str) -> str:
    return '{0}:{1}'.format(prefix, uuid.uuid4().hex[:12])


def results_tag(job: Job) -> str:
    return 'tag://' + DDFS.job_tag(job.name)


def flat(results: list) -> list:
    """Results as a flat URL list (the master may wrap the tag in a replica list)."""
    return [url for item in results for url in ([item] if isinstance(item, str) else item)]


def ddfs_cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    """Run the `ddfs` command (as its console script does) with the cluster's settings."""
    return subprocess.run([sys.executable, '-m', 'disco.cli.ddfs', *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd)


def text_blob(lines: list[str]) -> io.BytesIO:
    return io.BytesIO(''.join(line + '\n' for line in lines).encode())


# ---- save_results --------------------------------------------------------------------------

def test_save_results_classic(shared_cluster):
    job = Job().run(input=TEXT, map=wordcount.fun_map, reduce=wordcount.fun_reduce,
                    save_results=True)
    results = job.wait(timeout=JOB_TIMEOUT)
    assert flat(results) == [results_tag(job)]
    assert sorted(result_iterator(results)) == COUNTS
    blobs = list(DDFS().blobs(results_tag(job)))
    assert blobs, "the results tag lists the saved blobs"
    for replicas in blobs:
        assert DDFS.blob_name(replicas[0]).startswith(DDFS.safe_name(job.name) + ':')


def test_save_results_exact_shapes(shared_cluster):
    job = Job().run(input=TEXT, map=wordcount.fun_map, reduce=wordcount.fun_reduce,
                    save_results=True)
    assert job.wait(timeout=JOB_TIMEOUT) == [results_tag(job)]
    for replicas in DDFS().blobs(results_tag(job)):
        assert '#' not in replicas[0], "tag URLs must be plain blob URLs"


def test_save_results_partitioned_reduce(shared_cluster):
    job = Job().run(input=TEXT, map=wordcount.fun_map, reduce=wordcount.fun_reduce,
                    partitions=3, save_results=True)
    results = job.wait(timeout=JOB_TIMEOUT)
    assert flat(results) == [results_tag(job)]
    assert len(list(DDFS().blobs(results_tag(job)))) == 3
    assert sorted(result_iterator(results)) == COUNTS


def test_save_results_pipeline(shared_cluster):
    job = Job(worker=PipelineWorker()).run(
        input=[[t] for t in TEXT], save_results=True,
        pipeline=[('split', pipelines.map_stage()),
                  ('group_label', pipelines.reduce_stage(combine=True, sort=True))])
    results = job.wait(timeout=JOB_TIMEOUT)
    assert flat(results) == [results_tag(job)]
    assert sorted(result_iterator(results)) == COUNTS


def test_saved_results_feed_a_job_and_xcat(shared_cluster):
    first = Job(name='saved').run(input=TEXT, map=wordcount.fun_map,
                                  reduce=wordcount.fun_reduce, save_results=True)
    tag = flat(first.wait(timeout=JOB_TIMEOUT))[0]
    second = Job(name='reader').run(input=[tag], map=nop_map, map_reader=chain_reader,
                                    reduce=ddfs_jobs.sum_reduce)
    assert sorted(result_iterator(second.wait(timeout=JOB_TIMEOUT))) == COUNTS
    done = ddfs_cli('xcat', tag)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == sorted('{0}\t{1}'.format(k, v)
                                                      for k, v in STR_COUNTS)


# ---- tag:// inputs and ddfs chunk ------------------------------------------------------------

def test_tag_of_tags_with_token_and_save(shared_cluster):
    ddfs, token = DDFS(), 'secret-' + uuid.uuid4().hex[:6]
    data, meta = unique('test:data'), unique('test:meta')
    ddfs.push(data, [(text_blob(['the quick brown fox', 'the lazy dog']), 'part1'),
                     (text_blob(['the end']), 'part2')], token=token)
    ddfs.tag(meta, [['tag://' + data]], token=token)
    for tag in (data, meta):
        ddfs.setattr(tag, 'ddfs:read-token', token, token=token)
    with pytest.raises(CommError) as denied:
        ddfs.get(meta)  # the read token protects the tag
    assert denied.value.code == 401
    job = Job().run(input=['tag://token:{0}@/{1}'.format(token, meta)],
                    map=ddfs_jobs.line_map, reduce=ddfs_jobs.sum_reduce, save_results=True)
    results = job.wait(timeout=JOB_TIMEOUT)
    assert sorted((k.decode() if isinstance(k, bytes) else k, v)
                  for k, v in result_iterator(results)) == STR_COUNTS


def test_chunk_then_job_with_chain_reader(shared_cluster, tmp_path):
    source = tmp_path / 'lines.txt'
    source.write_text('the quick brown fox\nthe lazy dog\nthe end\n')
    tag = unique('test:chunked')
    done = ddfs_cli('chunk', '-S', '0.00001', tag, './' + source.name, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert list(DDFS().blobs(tag)), "the chunks are tagged"
    decoded = ddfs_cli('xcat', tag)
    assert decoded.stdout.splitlines() == ['the quick brown fox', 'the lazy dog', 'the end']
    job = Job().run(input=['tag://' + tag], map=ddfs_jobs.line_map, map_reader=chain_reader,
                    reduce=ddfs_jobs.sum_reduce)
    assert sorted((k.decode() if isinstance(k, bytes) else k, v)
                  for k, v in result_iterator(job.wait(timeout=JOB_TIMEOUT))) == STR_COUNTS


# ---- OOB and profiling -----------------------------------------------------------------------

def test_oob_put_get_list_and_cli(shared_cluster):
    job = Job().run(input=TEXT, map=ddfs_jobs.oob_map, reduce=ddfs_jobs.oob_reduce)
    results = dict(result_iterator(job.wait(timeout=JOB_TIMEOUT)))
    assert results['last-fox'] == b'4' and results['last-end'] == b'2'
    assert sorted(job.oob_list()) == ['last-dog', 'last-end', 'last-fox', 'reduce-done']
    assert job.oob_get('last-dog') == b'3'
    assert job.oob_get('reduce-done') == job.name.encode()
    with pytest.raises(DiscoError):
        job.oob_get('no-such-key')
    listed = run_cli('oob', job.name)
    assert listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.split()) == sorted(job.oob_list())
    value = run_cli('oob', 'get', 'last-fox', job.name)
    assert value.returncode == 0, value.stderr
    assert value.stdout.strip() == '4'


def test_profile_stats(shared_cluster):
    job = Job().run(input=TEXT, map=wordcount.fun_map, reduce=wordcount.fun_reduce,
                    profile=True)
    job.wait(timeout=JOB_TIMEOUT)
    keys = job.oob_list()
    assert any(k.startswith('profile-map') for k in keys), keys
    assert any(k.startswith('profile-reduce') for k in keys), keys
    out = io.StringIO()
    stats = job.profile_stats(stream=out)
    assert isinstance(stats, pstats.Stats)
    stats.print_stats(5)
    assert 'function calls' in out.getvalue()
    assert isinstance(job.profile_stats('reduce', stream=out), pstats.Stats)


# ---- external programs -----------------------------------------------------------------------

@pytest.mark.skipif(shutil.which('gcc') is None, reason='needs gcc')
def test_external_c_map_reduce(shared_cluster, tmp_path):
    binary = tmp_path / 'wordcount'
    subprocess.run(['gcc', '-O2', '-o', str(binary), C_SOURCE], check=True, timeout=60)
    program = external([str(binary)])
    job = Job().run(input=TEXT, map=program, reduce=program, ext_params={'weight': '2'})
    results = sorted(result_iterator(job.wait(timeout=JOB_TIMEOUT)))
    assert results == [(k.encode(), str(2 * v).encode()) for k, v in COUNTS]  # external: bytes
    messages = [event[2] for _offset, event in Disco().events(job.name)]
    assert any('reduced 7 words' in m for m in messages), messages


# ---- events, wait(show=...), disco.test ------------------------------------------------------

def test_events_and_wait_show(shared_cluster, capsys):
    job = Job().run(input=TEXT, map=wordcount.fun_map, reduce=wordcount.fun_reduce)
    job.wait(timeout=JOB_TIMEOUT, show='nocolor', poll_interval=0.2)
    err = capsys.readouterr().err
    assert err.startswith(job.name + ':')
    assert 'READY: Job done' in err
    assert 'Status: [' in err and '] 0 pending' in err
    events = list(job.events())
    offsets = [offset for offset, _event in events]
    assert offsets == sorted(offsets) and events[-1][1][2].startswith('READY')
    # resuming from an offset yields only later events
    assert [e for _o, e in job.events(offset=offsets[-2])] == [events[-1][1]]
    quiet = Job().run(input=TEXT, map=wordcount.fun_map)
    quiet.wait(timeout=JOB_TIMEOUT)
    assert capsys.readouterr() == ('', '')


def test_event_monitor_json(shared_cluster):
    job = Job().run(input=TEXT, map=wordcount.fun_map)
    job.wait(timeout=JOB_TIMEOUT)
    out = io.StringIO()
    monitor = EventMonitor(job, format='json', stream=out)
    monitor.refresh(force=True)
    lines = out.getvalue().splitlines()
    assert lines and all(line.startswith('[') for line in lines)
    assert 'READY' in lines[-1]


DISCO_STYLE_TESTS = '''
from disco.test import TestCase, TestJob
from disco.util import kvgroup


def fun_map(line, params):
    for word in line.split():
        yield word, 1


def fun_reduce(iter, params):
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


class WordCountTestCase(TestCase):
    def serve(self, path):
        return 'x y {0}\\n'.format(path)

    def runTest(self):
        self.job = TestJob().run(input=self.test_server.urls(['a', 'b']),
                                 map=fun_map, reduce=fun_reduce)
        self.assertResults(self.job, [(b'a', 1), (b'b', 1), (b'x', 2), (b'y', 2)])
        self.assertEqual(sum(self.nodes.values()), self.num_workers)


class DDFSTestCase(TestCase):
    def runTest(self):
        self.ddfs.tag('disco:test:harness', [['raw://hello']])
        self.assertTrue(self.ddfs.exists('disco:test:harness'))
        self.assertCommErrorCode(404, lambda: self.ddfs.get('disco:test:missing'))
        self.ddfs.delete('disco:test:harness')
'''


def test_disco_test_runner(shared_cluster, tmp_path, monkeypatch):
    (tmp_path / 'test_disco_style.py').write_text(DISCO_STYLE_TESTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv('DISCO_TEST_HOST', '127.0.0.1')
    monkeypatch.setenv('DISCO_TEST_PORT', '0')
    out = io.StringIO()
    result = TestRunner(shared_cluster.settings, stream=out).run('test_disco_style')
    assert result.wasSuccessful(), out.getvalue()
    assert result.testsRun == 2
    sys.modules.pop('test_disco_style', None)
