"""
:mod:`disco.worker.classic.worker` -- the classic map/reduce worker
===================================================================

:class:`Worker` (job pack version 1) turns the classic parameters (``map``,
``reduce``, ``partitions``, ``combiner``, ...; DISCO.md §1.5) into a v1
jobdict, and on the node runs the stage the master compiled from it:
``map``, ``map_shuffle``, ``reduce`` or ``reduce_shuffle``.

Job functions see this module's globals (``Task``, ``get``, ``put``,
``this_name``, ``this_partition``, ... and everything of
:mod:`disco.worker.classic.func`) plus the last dotted component of each
``required_modules`` entry, injected with ``setdefault`` so a function's own
globals win.
"""
from __future__ import annotations

import builtins
import itertools
import os  # noqa: F401  -- a global injected into job functions
import random
import sys
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator

from disco import util  # noqa: F401  -- a global injected into job functions
from disco import worker
from disco.error import DiscoError
from disco.worker import Params, SerialInput, expand_input  # noqa: F401
from disco.worker.classic import external  # noqa: F401
from disco.worker import counters
from disco.worker.classic import fastpath
from disco.worker.counters import counter  # noqa: F401  -- a global injected into job functions
from disco.worker.classic.func import *  # noqa: F401,F403
from disco.worker.classic.func import (chain_reader, default_partition, disco_output_stream,
                                       init, map_input_stream, map_output_stream,
                                       reduce_input_stream, reduce_output_stream)
from disco.worker.modutil import callables
from disco.worker.sort import disk_sort
from disco.worker.task_io import StreamCombiner

#: The task being run (a global of every job function).
Task = None

_first = itemgetter(0)

STATUS_TEMPLATES = {'map': "{0} entries mapped", 'reduce': "{0} entries reduced"}


def python_version() -> str:
    return '{0}.{1}'.format(*sys.version_info[:2])


class Worker(worker.Worker):
    """The classic worker; every parameter of DISCO.md §1.5 is a dict item."""
    jobpack_version = 1

    class Prepared(object):
        """What :meth:`Worker.prepare_job` did, for the tasks forked after it: the worker, job
        and jobargs it was done for, and the job functions' globals still lacking ``Task``."""

        def __init__(self, worker: 'Worker', job: Any, jobargs: dict, scopes: list) -> None:
            self.worker, self.job, self.jobargs, self.scopes = worker, job, jobargs, scopes

        def matches(self, worker: 'Worker', job: Any, jobargs: dict) -> bool:
            # identity, not equality: a jobargs value's own __eq__ is no business of ours
            return (worker is self.worker and job is self.job and len(jobargs) == len(self.jobargs)
                    and all(jobargs.get(key, self) is value for key, value in self.jobargs.items()))

        def inject_task(self, task: Any) -> None:
            """What :func:`inject` of the task's :func:`job_function_globals` still adds."""
            global Task
            Task = task
            for scope in self.scopes:
                scope.setdefault('Task', task)

    #: set by :meth:`prepare_job` in the process the job's tasks fork from (a class
    #: attribute: never pickled with a worker; nothing new among the job functions' globals)
    prepared: 'Worker.Prepared | None' = None

    def defaults(self) -> dict:
        defaults = super().defaults()
        defaults.update({'map': None,
                         'map_init': init,
                         'map_reader': None,
                         'map_input_stream': (map_input_stream,),
                         'map_output_stream': (map_output_stream, disco_output_stream),
                         'map_shuffle': None,
                         'combiner': None,
                         'partition': default_partition,
                         'partitions': 1,
                         'reduce': None,
                         'reduce_init': init,
                         'reduce_reader': chain_reader,
                         'reduce_input_stream': (reduce_input_stream,),
                         'reduce_output_stream': (reduce_output_stream, disco_output_stream),
                         'reduce_shuffle': None,
                         'shuffle': None,
                         'ext_params': {},
                         'params': Params(),
                         'sort': False,
                         'sort_buffer_size': '10%',
                         'status_interval': 100000,
                         'version': python_version()})
        return defaults

    # ---------------------------------------------------------------- client side
    def jobdict(self, job: Any, **jobargs: Any) -> dict:
        """:return: the version-1 jobdict (DISCO.md §1.5 "Generated jobdict")."""
        def get(key: str, default: Any = None) -> Any:
            return self.getitem(key, job, jobargs, default)
        has_map, has_reduce = bool(get('map')), bool(get('reduce'))
        job_input = get('input', [])
        if not util.isiterable(job_input):
            raise DiscoError("Job 'input' is not a list of input locations, "
                             "or a list of such lists: {0}".format(job_input))
        input = util.inputlist(job_input, label=None if has_map else False,
                               settings=job.settings)
        jobdict = super().jobdict(job, **jobargs)
        jobdict.update({'input': input,
                        'map?': has_map,
                        'reduce?': has_reduce,
                        'reduce_shuffle?': bool(get('reduce_shuffle')),
                        'nr_reduces': self.nr_reduces(has_map, input, get('partitions'))})
        return jobdict

    @staticmethod
    def nr_reduces(has_map: bool, input: list, partitions: Any) -> int:
        if has_map:
            return partitions or 1
        if input and util.ispartitioned(input):
            return 1 + max(label for dir_url in input
                           for label, _url, _size in util.read_index(util.iterify(dir_url)[0]))
        return 1

    def jobzip(self, job: Any, jobzip: Any, **jobargs: Any) -> None:
        super().jobzip(job, jobzip, **jobargs)
        for stage in ('map', 'reduce'):
            program = self.getitem(stage, job, jobargs)
            if isinstance(program, dict):
                for name, data in program.items():
                    jobzip.writestr(os.path.join('ext.{0}'.format(stage), name), data)

    # ---------------------------------------------------------------- node side
    def prepare_job(self, job: Any, jobargs: dict) -> None:
        """Resolve the parameters and give the job functions their globals, except the one
        naming the task (``Task``), once for all tasks of the job (see
        :meth:`disco.worker.Worker.prepare_job`): :meth:`run` then only adds ``Task``."""
        global Task
        Worker.prepared = None
        self.resolve(job, jobargs)
        placeholder = object()  # there is no task yet
        names = job_function_globals(self, placeholder)
        Task = None
        per_task = names.get('Task') is placeholder  # unless a required module took the name
        if per_task:
            del names['Task']
        scopes = {id(scope): scope for scope in self.function_scopes()}
        for scope in scopes.values():
            for name, value in names.items():
                scope.setdefault(name, value)
        Worker.prepared = Worker.Prepared(self, job, dict(jobargs),
                                          list(scopes.values()) if per_task else [])

    def resolve(self, job: Any, jobargs: dict) -> None:
        """Replace every parameter by its value for this job (jobargs, job attribute, own)."""
        for key in self:
            self[key] = self.getitem(key, job, jobargs)

    def run(self, task: Any, job: Any, **jobargs: Any) -> None:
        prepared = Worker.prepared
        if prepared is not None and not prepared.matches(self, job, jobargs):
            prepared = None
        if prepared is None:
            self.resolve(job, jobargs)
        if self['version'] != python_version():
            raise AssertionError("Python version mismatch: job built with {0}, node runs {1}"
                                 .format(self['version'], python_version()))
        params = self['params']
        stage_function = self.get(task.stage)
        if isinstance(stage_function, dict):
            params = self['ext_params']
            self[task.stage] = external.prepare(params, task.stage)
            prepared = None  # a function of this task's own: it needs every name
        if prepared is None:
            self.inject_globals(task)
        else:
            prepared.inject_task(task)
        try:
            getattr(self, 'run_' + task.stage)(task, params)
        finally:
            external.close()

    def inject_globals(self, task: Any) -> None:
        names = job_function_globals(self, task)
        for value in list(self.values()):
            for function in callables(value):
                inject(function, names)

    def function_scopes(self) -> Iterator[dict]:
        """The globals of every job function among the parameters."""
        for value in list(self.values()):
            for function in callables(value):
                scope = getattr(function, '__globals__', None)
                if scope is not None:
                    yield scope

    def opener(self, stage: str, direction: str, params: Any) -> Callable:
        """:return: ``open(url)`` building the stream chain for stage/direction."""
        if direction == 'in':
            streams = [s for s in list(self['{0}_input_stream'.format(stage)])
                       + [self['{0}_reader'.format(stage)]] if s]
        else:
            streams = list(self['{0}_output_stream'.format(stage)])

        def open(url: str) -> StreamCombiner:
            return StreamCombiner(url, streams, params)
        return open

    def output_adder(self, task: Any, stage: str, params: Any) -> Callable:
        """:return: ``adder(label)`` giving the (cached) ``add`` of that output."""
        open = self.opener(stage, 'out', params)
        adders: dict = {}

        def adder(label: Any) -> Callable:
            add = adders.get(label)
            if add is None:
                add = adders[label] = self.output(task, label, open=open).file.fds[-1].add
            return add
        return adder

    def status_iter(self, iterable: Iterable, stage: str) -> Iterator:
        """Yield the records; MSG every ``status_interval`` and a final Done MSG.

        Built from C iterators (no Python frame per record: that was ~10 % of a grep map):
        the records pass through ``islice`` chunks of ``status_interval``, and a generator
        resumed once per chunk sends the MSGs -- when the record after a full chunk is asked
        for, as before. A counter zipped alongside counts them."""
        interval = self['status_interval']
        template = STATUS_TEMPLATES[stage]
        tally = itertools.count()
        records = builtins.map(_first, zip(iterable, tally))  # (`map` here is func.map)

        def chunks() -> Iterator[Iterable]:
            taken = 0  # values we took from the tally ourselves (to read it)
            count = 0
            if interval:
                while True:
                    yield itertools.islice(records, interval)
                    previous, count = count, next(tally) - taken
                    taken += 1
                    if count - previous < interval:
                        break  # a short chunk: the records ran out
                    self.send('MSG', template.format(count))
            else:
                yield records
                count = next(tally) - taken
            self.send('MSG', "Done: " + template.format(count))
        return itertools.chain.from_iterable(chunks())

    # ---------------------------------------------------------------- stages
    def run_map(self, task: Any, params: Any) -> None:
        if self['save_results'] and self['partitions'] and not self['reduce']:
            raise NotImplementedError("Storing partitioned outputs in DDFS is not yet supported")
        entries = self.status_iter(self.input(task, open=self.opener('map', 'in', params)), 'map')
        self['map_init'](entries, params)
        adder = self.output_adder(task, 'map', params)
        if self['combiner']:
            self.map_combined(entries, params, adder)
        elif self['partitions'] == 1 and self['partition'] is default_partition:
            # default_partition(key, 1, params) is always 0: skip hashing every key
            self.map_plain(entries, params, adder, label=0)
        elif self['partitions']:
            self.map_partitioned(entries, params, adder)
        else:
            self.map_plain(entries, params, adder)

    def map_plain(self, entries: Iterable, params: Any, adder: Callable,
                  label: Any = None) -> None:
        add = None
        for key, value in fastpath.map_pairs(entries, self['map'], params):
            if add is None:
                add = adder(label)
            add(key, value)

    def map_partitioned(self, entries: Iterable, params: Any, adder: Callable) -> None:
        label_of = fastpath.labeller(self['partition'], self['partitions'], params)
        adds: dict = {}
        for key, value in fastpath.map_pairs(entries, self['map'], params):
            label = label_of(key)
            add = adds.get(label)
            if add is None:
                add = adds[label] = adder(label)
            add(key, value)

    def map_combined(self, entries: Iterable, params: Any, adder: Callable) -> None:
        fun_map, combiner = self['map'], self['combiner']
        partition, partitions = self['partition'], self['partitions']
        if combiner is sum_combiner:  # inlined: no combiner and partition call per pair
            return fastpath.map_summed(entries, fun_map, params, partition, partitions, adder)
        constant, label = fastpath.constant_label(partition, partitions)
        if constant:  # one buffer: no label per pair
            return fastpath.map_one_buffer(entries, fun_map, params, combiner, label, adder)
        label_of = fastpath.labeller(partition, partitions, params)  # memoized default
        buffers: dict = {}
        out = pairs = 0
        for key, value in fastpath.map_pairs(entries, fun_map, params):
            pairs += 1  # beside a Python combiner call per pair: a few percent at most
            label = label_of(key)
            buffer = buffers.get(label)
            if buffer is None:
                buffer = buffers[label] = {}
            for record in combiner(key, value, buffer, False, params) or ():
                out += 1
                adder(label)(*record)
        for label, buffer in buffers.items():
            for record in combiner(None, None, buffer, True, params) or ():
                out += 1
                adder(label)(*record)
        counters.engine('combiner_in', pairs)
        counters.engine('combiner_out', out)

    def run_reduce(self, task: Any, params: Any) -> None:
        entries = self.status_iter(self.reduce_input(task, params), 'reduce')
        out = self.output(task, None, open=self.opener('reduce', 'out', params)).file.fds[-1]
        self['reduce_init'](entries, params)
        fun_reduce = self['reduce']
        if util.argcount(fun_reduce) < 3:
            add = out.add
            for key, value in fun_reduce(entries, params):
                add(key, value)
        else:
            fun_reduce(entries, out, params)

    def reduce_input(self, task: Any, params: Any) -> Iterable:
        """All inputs (index files expanded by label) in random order, sorted if asked."""
        replicas_list = [replicas for input in self.get_inputs()
                         for _label, replicas in expand_input(input, task)]
        random.shuffle(replicas_list)
        records = SerialInput(replicas_list, task=task, open=self.opener('reduce', 'in', params))
        if self['sort']:
            return disk_sort(records, task.path('sort'), self['sort_buffer_size'])
        return records

    def run_shuffle(self, task: Any, params: Any) -> None:
        """Concatenate each label's inputs into one output (group_node shuffle)."""
        inputs = list(self.get_inputs())
        label_map = self.labelled_input_map(task, inputs)
        for label in sorted(label_map):
            self.concat_input(task, label, label_map[label])
        self.send('MSG', "Shuffled {0} inputs into {1} label(s)".format(len(inputs),
                                                                       len(label_map)))

    run_map_shuffle = run_shuffle
    run_reduce_shuffle = run_shuffle


def job_function_globals(worker: Any, task: Any) -> dict:
    """:return: the names every job function sees: this module's globals (with
    ``Task`` set to ``task``) and the last dotted component of each required module.
    Names that would shadow builtins (func's ``map`` stub) are left out."""
    global Task
    Task = task
    # `in vars(builtins)`, not hasattr: a failed hasattr raises and catches an AttributeError,
    # ~10 us for each of this module's ~90 names, per task
    builtin_names = vars(builtins)
    names = {name: value for name, value in globals().items()
             if not name.startswith('__') and name not in builtin_names}
    for module in worker['required_modules'] or ():
        name = module[0] if isinstance(module, (tuple, list)) else module
        try:
            names[name.split('.')[-1]] = __import__(name, fromlist=[name])
        except ImportError:
            if not getattr(worker, 'auto_modules', False):
                raise
    return names


def inject(function: Any, names: dict) -> None:
    """Add ``names`` to a function's globals without overriding its own."""
    scope = getattr(function, '__globals__', None)
    if scope is not None:
        for name, value in names.items():
            scope.setdefault(name, value)


def get(*args: Any, **kwargs: Any) -> Any:
    """See :meth:`disco.task.Task.get`."""
    return Task.get(*args, **kwargs)


def put(*args: Any, **kwargs: Any) -> Any:
    """See :meth:`disco.task.Task.put`."""
    return Task.put(*args, **kwargs)


def this_inputs() -> list:
    """:return: the input URLs (replica lists) of the current task."""
    return [input.locations for input in Worker.get_inputs()]


def this_name() -> str:
    """:return: the name of the current job."""
    return Task.jobname


def this_master() -> str:
    """:return: the master URL."""
    return Task.master


def this_host() -> str:
    """:return: the host running the current task."""
    return Task.host


def this_partition() -> Any:
    """:return: the label of the current task's group (its partition)."""
    return Task.group_label


if __name__ == '__main__':
    Worker.main()
