"""Worker reuse's ``NEXT`` frame against a real ``disco-worker`` process (the test plays the
node): ``NEXT`` with the next task's TASK payload starts that task without WORKER and TASK;
an empty ``NEXT`` (an older node) starts it with WORKER as before; EOF ends the worker."""
from __future__ import annotations

import os
import subprocess

import pytest

from disco.job import Job
from disco.protocol.framing import read_message, write_message
from jobs import reuse
from worker.fakenode import FakeNode, select_inputs

pytestmark = pytest.mark.timeout(60)


def serve_task(proc: subprocess.Popen, node: FakeNode, taskid: int, url: str,
               outputs: list | None = None) -> list[str]:
    """Answer one task's messages until DONE; :return: the message names, in order."""
    outputs = [] if outputs is None else outputs
    task = node.task_payload('map', 'split', (0, ''), taskid)
    table = [[0, 'ok', 0, [[0, url]]]]
    replies = {'WORKER': lambda p: ('OK', 'ok'), 'TASK': lambda p: ('TASK', task),
               'MSG': lambda p: ('OK', 'ok'), 'INPUT': lambda p: ('INPUT', select_inputs(table, p)),
               'OUTPUT': lambda p: outputs.append(p[1]) or ('OK', 'ok')}
    names = []
    while True:
        name, payload = read_message(proc.stdout)
        names.append(name)
        if name in ('DONE', 'ERROR', 'FATAL'):
            assert name == 'DONE', payload
            return names
        write_message(proc.stdin, *replies[name](payload))


def test_next_carries_the_task_or_starts_a_full_session(tmp_path):
    node = FakeNode(tmp_path, Job().make_jobpack(map=reuse.pid_map).dumps())
    env = dict(node.environment(), DISCO_WORKER_REUSE='1')
    proc = subprocess.Popen([os.path.join(node.jobhome, node.parts.jobdict['worker'])],
                            cwd=node.jobhome, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        outputs: list = []
        first = serve_task(proc, node, 0, 'raw://a', outputs)
        assert first[:2] == ['WORKER', 'TASK']
        write_message(proc.stdin, 'NEXT', node.task_payload('map', 'split', (0, ''), 1))
        carried = serve_task(proc, node, 1, 'raw://b', outputs)
        assert 'WORKER' not in carried and 'TASK' not in carried
        assert carried[0] == 'INPUT' and carried[-1] == 'DONE'
        write_message(proc.stdin, 'NEXT', '')
        assert serve_task(proc, node, 2, 'raw://c', outputs)[:2] == ['WORKER', 'TASK']
        # each task wrote its own output in its own task directory
        assert len({os.path.dirname(path) for path in outputs}) == 3
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
