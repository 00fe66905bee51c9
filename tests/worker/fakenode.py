"""A test double of a Disco node: it runs a job's real ``disco-worker`` child
process and answers it with the worker protocol (DISCO.md §2) over pipes.

The protocol is the public contract between nodes and workers, so playing
the node here tests the worker exactly as a node would drive it, without a
master.  :meth:`FakeNode.run_task` returns what the worker reported; output
index files are written like a node's, so a later stage can take them as
``dir://`` inputs.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

from disco.fileutils import read_records
from disco.protocol import jobpack as jobpack_codec
from disco.protocol.framing import read_message, write_message
from disco.urls import hexhash

TASK_TIMEOUT = 60


@dataclass
class TaskRun:
    """What one worker run reported."""
    status: str = ''                 # DONE, ERROR, FATAL or CRASH
    payload: Any = None
    messages: list = field(default_factory=list)   # MSG texts
    outputs: list = field(default_factory=list)    # (label, relpath, size)
    input_errors: list = field(default_factory=list)
    index_url: str = ''
    stray: bytes = b''


class FakeNode(object):
    """Runs tasks of one job on host ``host`` with data under ``root``."""

    def __init__(self, root: str, jobpack: bytes, host: str = 'localhost',
                 jobname: str | None = None) -> None:
        self.root = str(root)
        self.host = host
        self.parts = jobpack_codec.parse(jobpack, validate=False)
        self.jobname = jobname or '{0}@5a1:1:{1:x}'.format(self.parts.jobdict['prefix'],
                                                           int(time.time() * 1e6) & 0xfffff)
        self.disco_data = os.path.join(self.root, 'data')
        self.ddfs_data = os.path.join(self.root, 'ddfs')
        self.jobhome = os.path.join(self.disco_data, host, hexhash(self.jobname), self.jobname)
        self.jobfile = os.path.join(self.jobhome, 'jobfile')
        self.taskids = iter(range(1000))
        self.extract(jobpack)

    def extract(self, jobpack: bytes) -> None:
        os.makedirs(self.jobhome, exist_ok=True)
        os.makedirs(self.ddfs_data, exist_ok=True)
        with open(self.jobfile, 'wb') as handle:
            handle.write(jobpack)
        with zipfile.ZipFile(io.BytesIO(self.parts.jobhome)) as home:
            home.extractall(self.jobhome)
        worker = os.path.join(self.jobhome, self.parts.jobdict['worker'])
        os.chmod(worker, 0o755)

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(('DISCO_', 'DDFS_'))}
        env.update(self.parts.jobenvs)
        env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
        return env

    def task_payload(self, stage: str, grouping: str, group: tuple, taskid: int) -> dict:
        return {'taskid': taskid, 'master': 'http://localhost:1', 'disco_port': 1,
                'put_port': 2, 'ddfs_data': self.ddfs_data, 'disco_data': self.disco_data,
                'stage': stage, 'grouping': grouping, 'group': list(group),
                'jobfile': self.jobfile, 'jobname': self.jobname, 'host': self.host}

    def run_task(self, stage: str, inputs: list, grouping: str = 'split',
                 group: tuple = (0, ''), timeout: float = TASK_TIMEOUT) -> TaskRun:
        """Run one task; ``inputs`` is a list of ``(label, [url, ...])``."""
        taskid = next(self.taskids)
        run = TaskRun()
        proc = subprocess.Popen([os.path.join(self.jobhome, self.parts.jobdict['worker'])],
                                cwd=self.jobhome, env=self.environment(),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        table = [[i, 'ok', label, [[r, url] for r, url in enumerate(urls)]]
                 for i, (label, urls) in enumerate(inputs)]
        payload = self.task_payload(stage, grouping, group, taskid)
        talker = threading.Thread(target=self.talk, args=(proc, run, payload, table), daemon=True)
        talker.start()
        talker.join(timeout)
        if talker.is_alive():
            run.status = 'TIMEOUT'
        proc.kill()
        proc.wait()
        if run.status == 'DONE':
            run.index_url = self.write_index(stage, taskid, run.outputs)
        return run

    def talk(self, proc: subprocess.Popen, run: TaskRun, task: dict, table: list) -> None:
        replies = {'WORKER': lambda p: ('OK', 'ok'),
                   'TASK': lambda p: ('TASK', task),
                   'MSG': lambda p: run.messages.append(p) or ('OK', 'ok'),
                   'PING': lambda p: ('OK', 'pong'),
                   'INPUT': lambda p: ('INPUT', select_inputs(table, p)),
                   'INPUT_ERR': lambda p: run.input_errors.append(p) or ('FAIL', ''),
                   'OUTPUT': lambda p: run.outputs.append(tuple(p)) or ('OK', 'ok')}
        while True:
            try:
                name, payload = read_message(proc.stdout)
            except EOFError:
                run.status = run.status or 'CRASH'
                return
            except Exception as error:  # a framing error: keep what the worker wrote
                run.status = 'FRAMING'
                run.payload = repr(error)
                return
            if name in ('DONE', 'ERROR', 'FATAL'):
                run.status, run.payload = name, payload
                return
            reply = replies[name](payload)
            write_message(proc.stdin, *reply)

    def write_index(self, stage: str, taskid: int, outputs: list) -> str:
        relpath = '.disco/{0}-{1}-{2}.results'.format(stage, taskid, time.time_ns())
        os.makedirs(os.path.join(self.jobhome, '.disco'), exist_ok=True)
        with open(os.path.join(self.jobhome, relpath), 'w') as index:
            for label, path, size in outputs:
                index.write('{0} disco://{1}/disco/{1}/{2}/{3}/{4} {5}\n'.format(
                    label, self.host, hexhash(self.jobname), self.jobname, path, size))
        return 'dir://{0}/disco/{0}/{1}/{2}/{3}'.format(self.host, hexhash(self.jobname),
                                                       self.jobname, relpath)

    def records(self, run: TaskRun, label: int | None = None) -> list:
        """The records of a run's outputs (of one label, or all)."""
        records = []
        for out_label, path, size in sorted(run.outputs):
            if label is None or label == out_label:
                with open(os.path.join(self.jobhome, path), 'rb') as handle:
                    records.extend(read_records(handle, size, path))
        return records


def select_inputs(table: list, request: Any) -> list:
    """The INPUT reply: all inputs, or those included / not excluded."""
    if request in ('', None):
        return ['done', table]
    how, ids = request
    if how == 'include':
        return ['done', [row for row in table if row[0] in ids]]
    return ['done', [row for row in table if row[0] not in ids]]
