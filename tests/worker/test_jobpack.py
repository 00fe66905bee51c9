"""Job packs and jobdicts built by the Python client, without a cluster."""
from __future__ import annotations

import io
import stat
import zipfile

import pytest

from disco import JOBPACK_VERSION1, JOBPACK_VERSION2
from disco.error import DiscoError
from disco.job import Job, JobPack
from disco.task import jobdata
from disco import dPickle
from disco.worker.pipeline.worker import Stage, Worker as PipelineWorker
from jobs import classic_params, pipelines, wordcount

pytestmark = pytest.mark.timeout(60)


def jobdict_of(job: Job, **jobargs) -> dict:
    return job.make_jobpack(**jobargs).jobdict


def test_jobpack_round_trip():
    pack = JobPack(JOBPACK_VERSION1, {'prefix': 'x'}, {'A': 'b'}, b'PK-home', b'data')
    loaded = JobPack.load(io.BytesIO(pack.dumps()))
    assert (loaded.version, loaded.jobdict, loaded.jobenvs, loaded.jobhome, loaded.jobdata) == \
        (JOBPACK_VERSION1, {'prefix': 'x'}, {'A': 'b'}, b'PK-home', b'data')
    offsets = JobPack.offsets(io.BytesIO(pack.dumps()))
    assert offsets[0] == JobPack.HEADER_SIZE and list(offsets) == sorted(offsets)


def test_classic_jobdict_defaults():
    jobdict = jobdict_of(Job(), input=['raw://a b'], map=wordcount.fun_map)
    assert jobdict['prefix'] == 'Job'
    assert jobdict['worker'] == 'disco-worker'
    assert jobdict['map?'] is True and jobdict['reduce?'] is False
    assert jobdict['nr_reduces'] == 1
    assert jobdict['input'] == ['raw://a b']
    assert jobdict['save_results'] is False and jobdict['scheduler'] == {}
    assert jobdict['owner']


def test_classic_jobdict_parameters():
    jobdict = jobdict_of(Job(name='Named'), input=[['raw://a', 'raw://b']],
                         map=wordcount.fun_map, reduce=wordcount.fun_reduce, partitions=4,
                         reduce_shuffle=True, save_results=True, scheduler={'max_cores': 3})
    assert jobdict['prefix'] == 'Named'
    assert jobdict['nr_reduces'] == 4 and jobdict['reduce?'] and jobdict['reduce_shuffle?']
    assert jobdict['save_results'] is True and jobdict['scheduler'] == {'max_cores': 3}
    assert jobdict['input'] == [['raw://a', 'raw://b']]


def test_job_attributes_are_parameters():
    job = classic_params.ParamsJob()
    jobdict = jobdict_of(job, input=['raw://x'])
    assert jobdict['map?'] and jobdict['nr_reduces'] == 2
    # jobargs win over job attributes, which win over worker defaults
    assert job.worker.getitem('partitions', job, {'partitions': 7}) == 7
    assert job.worker.getitem('partitions', job, {}) == 2
    assert job.worker.getitem('sort', job, {}) is False
    assert job.worker.getitem('missing', job, {}, 'dflt') == 'dflt'


def test_input_must_be_iterable():
    with pytest.raises(DiscoError):
        Job().make_jobpack(input=42, map=wordcount.fun_map)


def test_jobhome_has_executable_launcher_and_required_files(tmp_path):
    extra = tmp_path / 'data.txt'
    extra.write_text('payload')
    home = Job().make_jobpack(input=['raw://a'], map=wordcount.fun_map,
                              required_files=[str(extra)]).jobhome
    with zipfile.ZipFile(io.BytesIO(home)) as jobzip:
        info = jobzip.getinfo('disco-worker')
        assert stat.S_IMODE(info.external_attr >> 16) == 0o755
        assert jobzip.read('disco-worker').startswith(
            b'#!/usr/bin/env python3\n# disco-python-worker\n'
        )
        assert jobzip.read('lib/data.txt') == b'payload'
        names = jobzip.namelist()
    assert any(name.endswith('tests/jobs/wordcount.py') for name in names)
    home = Job().make_jobpack(input=['raw://a'], map=wordcount.fun_map,
                              required_files={'conf/x.cfg': b'1'}).jobhome
    assert zipfile.ZipFile(io.BytesIO(home)).read('conf/x.cfg') == b'1'


def test_jobenvs_put_lib_first():
    envs = Job().make_jobpack(input=['raw://a'], map=wordcount.fun_map).jobenvs
    assert envs['PYTHONPATH'].split(':')[0] == 'lib'
    assert envs['LD_LIBRARY_PATH'] == 'lib'


def test_jobdata_rebuilds_job_and_lambdas():
    job = Job()
    factor = 3
    data = jobdata(job, {'map': lambda line, params: [(line, factor)]})
    rebuilt, jobargs = dPickle.loads(data)
    assert isinstance(rebuilt, Job) and rebuilt.name == 'Job'
    assert list(jobargs['map']('x', None)) == [('x', 3)]


def test_pipeline_jobdict():
    job = Job(worker=PipelineWorker())
    jobdict = jobdict_of(job, input=[['raw://a'], ['raw://b']],
                         pipeline=[('split', pipelines.map_stage()),
                                   ('group_label', pipelines.reduce_stage(), True)])
    assert job.worker.jobpack_version == JOBPACK_VERSION2
    assert jobdict['pipeline'] == [['map', 'split', False], ['reduce', 'group_label', True]]
    assert jobdict['inputs'] == [[0, 0, ['raw://a']], [0, 0, ['raw://b']]]


@pytest.mark.parametrize('pipeline', [
    [('bogus', Stage('a'))],
    [('split', Stage('a')), ('split', Stage('a'))],
    [('split',)],
])
def test_pipeline_rejects_bad_pipelines(pipeline):
    with pytest.raises(DiscoError):
        Job(worker=PipelineWorker()).make_jobpack(input=[['raw://a']], pipeline=pipeline)
