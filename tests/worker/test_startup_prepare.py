"""`Worker.prepare_job` (done once per job in the process its tasks fork from, the job's zygote)
must leave each task exactly as if it had set itself up: same parameters, same globals in the
job functions (``Task`` being the task's own), and nothing of one task seen by the next.

Each scenario runs in forked processes, as tasks do."""
from __future__ import annotations

import os
import pickle

import pytest
from jobs import classic_params as cp

from disco import dPickle
from disco.job import Job
from disco.task import Task
from disco.worker.classic import worker as classic

pytestmark = pytest.mark.timeout(60)

def job_objects():
    """`(job, jobargs)` as a task unpickles them from the job pack."""
    pack = Job().make_jobpack(input=['raw://a'], map=cp.globals_map,
                              params=classic.Params(n=[1]))
    return dPickle.loads(pack.jobdata)


def make_task(taskid: int) -> Task:
    return Task(host='h', jobname='job@1', stage='map', group=[0, 'h'], taskid=taskid)


def in_child(body):
    """`body()`'s picklable result, computed in a forked child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read_end)
            with os.fdopen(write_end, 'wb') as out:
                pickle.dump(body(), out)
        except BaseException:  # noqa: BLE001 - reported as the child's exit code
            import traceback
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, 'rb') as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return pickle.loads(data)


def run_task(job, jobargs, taskid: int, forbid_full_injection: bool = False) -> dict:
    """Run the classic worker's `run` for a task, its stage replaced by a snapshot of what the
    job function sees."""
    seen = {}

    def run_map(self, task, params):
        scope = self['map'].__globals__  # the job function's (unpickled by value)
        seen['names'] = sorted(name for name in scope if not name.startswith('__'))
        seen['task'] = scope['Task'] is task and classic.Task is task
        seen['shared'] = [scope[name] is getattr(classic, name)
                          for name in ('get', 'put', 'this_name', 'Params')]
        seen['params'] = list(params.n)
        seen['map'] = self['map'].__name__ == 'globals_map' and self['map'] is jobargs['map']
        params.n.append(taskid)  # a change the next task must not see

    classic.Worker.run_map = run_map
    if forbid_full_injection:
        def refuse(*_args):
            raise AssertionError("injected every global again")
        classic.job_function_globals = refuse
    job.worker.run(make_task(taskid), job, **jobargs)
    return seen


def test_prepared_task_sees_what_an_unprepared_one_sees():
    def unprepared():
        job, jobargs = job_objects()
        return run_task(job, jobargs, 1)

    def prepared():
        job, jobargs = job_objects()
        job.worker.prepare_job(job, jobargs)
        scope = jobargs['map'].__globals__
        assert 'Task' not in scope and 'this_name' in scope  # all but the task, already
        assert classic.Task is None
        return run_task(job, jobargs, 1, forbid_full_injection=True)
    expected = in_child(unprepared)
    assert expected['task'] and all(expected['shared']) and expected['map']
    assert in_child(prepared) == expected


def test_tasks_forked_after_preparation_do_not_see_each_other():
    def zygote():
        job, jobargs = job_objects()
        job.worker.prepare_job(job, jobargs)
        return [in_child(lambda taskid=taskid: run_task(job, jobargs, taskid,
                                                        forbid_full_injection=True))
                for taskid in (1, 2)]
    first, second = in_child(zygote)
    assert first['params'] == second['params'] == [1]  # not [1, 1]: the first task's change
    assert first['task'] and second['task']  # each its own Task


def test_other_job_objects_get_the_full_set_up():
    def body():
        job, jobargs = job_objects()
        job.worker.prepare_job(job, jobargs)
        other_args = dict(jobargs, params=classic.Params(n=[5]))  # not what was prepared for
        return run_task(job, other_args, 1)
    seen = in_child(body)
    assert seen['params'] == [5] and seen['task']
