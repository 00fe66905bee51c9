"""
:mod:`disco.worker.pipeline.worker` -- the pipeline worker (job pack version 2)
===============================================================================

A pipeline job is a list of ``(grouping, Stage)`` pairs (optionally with a
third ``concurrent`` flag).  The master groups each stage's inputs by the
grouping (split, group_label, group_node, group_node_label, group_all) into
tasks; this worker runs one task of one stage: ``init``, then ``process``
per input (or once per label with ``combine``), then ``done``
(DISCO.md §1.7).
"""
from __future__ import annotations

import sys
from collections import namedtuple
from itertools import chain
from typing import Any, Callable, Iterable, Iterator

from disco import JOBPACK_VERSION2, util, worker
from disco.error import DiscoError
from disco.worker import Input, counters, expand_input
from disco.worker.classic.worker import inject, job_function_globals
from disco.worker.modutil import callables, job_modules, source_path
from disco.worker.sort import disk_sort
from disco.worker.task_io import (StreamCombiner, chain_reader, disco_output_stream,
                                  shuffle_output_stream, task_input_stream,
                                  task_output_stream)

TaskInfo = namedtuple('TaskInfo', ['jobname', 'host', 'stage', 'group', 'label'])


def input_hook(state: Any, input_labels: Iterable) -> Iterable:
    """The default input hook: labels in the order given."""
    return input_labels


class DiscoTask(namedtuple('DiscoTask', ['output', 'counter'])):
    """The ``interface`` passed to stage functions: ``interface.output(label)``
    returns the output stream (``.add(k, v)``) for an integer label;
    ``interface.counter(group, name, n=1)`` adds to a user counter (docs/counters.md)."""


def serial_records(inputs: Iterable) -> Iterator:
    """The records of several inputs, one after the other (chained in C: no Python frame
    per record)."""
    return chain.from_iterable(inputs)


class Stage(object):
    """One stage of a pipeline: entry points ``init(interface, params) -> state``,
    ``process(interface, state, label, inp)``, ``done(interface, state)`` and
    ``input_hook(state, labels)``; input/output stream chains; ``combine``
    (process once per label with all its inputs) and ``sort`` (sort them)."""

    pipeline_input_chain = [task_input_stream]
    interior_input_chain = [task_input_stream, chain_reader]
    default_output_chain = [task_output_stream, disco_output_stream]
    #: a stage whose outputs only the next stage reads writes them uncompressed
    interior_output_chain = [task_output_stream, shuffle_output_stream]

    def __init__(self, name: str = '', init: Callable | None = None,
                 process: Callable | None = None, done: Callable | None = None,
                 input_hook: Callable = input_hook, input_chain: list | None = None,
                 output_chain: list | None = None, combine: bool = False,
                 sort: bool = False) -> None:
        self.name = name
        self.init = init
        self.process = process
        self.done = done
        self.input_hook = input_hook
        self.input_chain = list(input_chain or [])
        self.output_chain = list(output_chain or [])
        self.combine = combine
        self.sort = sort
        self.taskinfo = None

    @classmethod
    def default_input_chain(cls, pipe_index: int) -> list:
        return cls.pipeline_input_chain if pipe_index == 0 else cls.interior_input_chain

    @classmethod
    def output_chain_for(cls, pipe_index: int, stages: int) -> list:
        """The last stage's outputs are the job's results (compressed, as Disco writes
        them); the others are the next stage's inputs."""
        return cls.default_output_chain if pipe_index == stages - 1 else cls.interior_output_chain

    def _callables(self) -> list:
        return [c for c in [self.init, self.input_hook, self.process, self.done]
                + self.input_chain + self.output_chain if callable(c)]

    def __repr__(self) -> str:
        return 'Stage({0!r})'.format(self.name)


def pipeline_entries(pipeline: Iterable) -> list:
    """Validate the pipeline; :return: ``[(grouping, stage, concurrent), ...]``."""
    entries, names = [], set()
    for entry in pipeline:
        if not isinstance(entry, (tuple, list)) or len(entry) not in (2, 3):
            raise DiscoError("Pipeline entries are (grouping, Stage[, concurrent]): "
                             "{0!r}".format(entry))
        grouping, stage = entry[0], entry[1]
        concurrent = bool(entry[2]) if len(entry) == 3 else False
        if grouping not in Worker.group_ops:
            raise DiscoError("Unknown grouping {0}".format(grouping))
        if not isinstance(stage, Stage):
            raise DiscoError("Not a Stage: {0!r}".format(stage))
        if stage.name in names:
            raise DiscoError("Repeated stage {0}".format(stage.name))
        names.add(stage.name)
        entries.append((grouping, stage, concurrent))
    return entries


class Worker(worker.Worker):
    """The pipeline worker."""
    jobpack_version = JOBPACK_VERSION2
    group_ops = {"split", "group_label", "group_node", "group_all", "group_node_label"}

    def defaults(self) -> dict:
        defaults = super().defaults()
        defaults.update({'pipeline': [],
                         'params': worker.Params(),
                         'version': '{0}.{1}'.format(*sys.version_info[:2])})
        return defaults

    def get_modules(self, job: Any, **jobargs: Any) -> list:
        functions = [
            c
            for _g, stage, _c in pipeline_entries(self.getitem('pipeline', job, jobargs, []))
            for c in stage._callables()
        ]
        functions += list(callables(self.getitem('params', job, jobargs)))
        return job_modules(functions, job_path=source_path(job), exclude=['Task'])

    def jobdict(self, job: Any, **jobargs: Any) -> dict:
        entries = pipeline_entries(self.getitem('pipeline', job, jobargs, []))
        job_input = self.getitem('input', job, jobargs, [])
        if not util.isiterable(job_input):
            raise DiscoError("Job 'input' is not a list of input locations, "
                             "or a list of such lists: {0}".format(job_input))
        inputs = util.inputlist(job_input, label=None, settings=job.settings)
        jobdict = super().jobdict(job, **jobargs)
        jobdict.update({'pipeline': [[s.name, g, c] for g, s, c in entries],
                        'inputs': [[0, 0, list(util.iterify(inp))] for inp in inputs]})
        return jobdict

    def run(self, task: Any, job: Any, **jobargs: Any) -> None:
        for key in self:
            self[key] = self.getitem(key, job, jobargs)
        version = '{0}.{1}'.format(*sys.version_info[:2])
        if self['version'] != version:
            raise AssertionError("Python version mismatch: job built with {0}, node runs {1}"
                                 .format(self['version'], version))
        names = job_function_globals(self, task)
        for value in list(self.values()):
            for function in callables(value):
                inject(function, names)
        params = self['params']
        entries = pipeline_entries(self['pipeline'])
        index = [s.name for _g, s, _c in entries].index(task.stage)
        stage = entries[index][1]
        stage.taskinfo = TaskInfo(jobname=task.jobname, host=task.host, stage=task.stage,
                                  group=task.group, label=task.group_label)
        if not stage.input_chain:
            stage.input_chain = Stage.default_input_chain(index)
        if not stage.output_chain:
            stage.output_chain = Stage.output_chain_for(index, len(entries))
        self.run_stage(task, stage, params)

    def make_interface(self, task: Any, stage: Stage, params: Any) -> DiscoTask:
        def output_open(url: str) -> StreamCombiner:
            return StreamCombiner(url, stage.output_chain, params)

        def output(label: int) -> Any:
            if not isinstance(label, int) or isinstance(label, bool):
                raise ValueError("Output label must be an integer: {0!r}".format(label))
            return self.output(task, label, open=output_open).file.fds[-1]
        return DiscoTask(output=output, counter=counters.counter)

    def prepare_input_map(self, task: Any, stage: Stage, params: Any) -> dict:
        """:return: ``{label: [Input, ...]}`` over the task's inputs."""
        def input_open(url: str) -> StreamCombiner:
            return StreamCombiner(url, stage.input_chain, params)
        input_map: dict = {}
        for input in self.get_inputs():
            for label, replicas in expand_input(input, task):
                input_map.setdefault(label, []).append(Input(replicas, task=task,
                                                             open=input_open))
        return input_map

    def run_stage(self, task: Any, stage: Stage, params: Any) -> None:
        interface = self.make_interface(task, stage, params)
        state = stage.init(interface, params) if callable(stage.init) else None
        if callable(stage.process):
            input_map = self.prepare_input_map(task, stage, params)
            for label in stage.input_hook(state, sorted(input_map)):
                self.process_label(task, stage, interface, state, label, input_map[label])
        if callable(stage.done):
            stage.done(interface, state)

    def process_label(self, task: Any, stage: Stage, interface: DiscoTask, state: Any,
                      label: Any, inputs: list) -> None:
        if stage.combine:
            records = serial_records(inputs)
            if stage.sort:
                records = disk_sort(records, task.path('sort'), '10%')
            stage.process(interface, state, label, records)
        else:
            for input in inputs:
                stage.process(interface, state, label, input)


if __name__ == '__main__':
    Worker.main()
