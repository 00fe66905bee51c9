"""Classic jobs exercising one parameter each (combiner, partition, sort, params...)."""
from disco.core import Job
from disco.worker.classic.func import sum_combiner, sum_reduce  # noqa: F401
from disco.worker.classic.worker import Params


def words(line, params):
    for word in line.split():
        yield word, 1


def count_reduce(iter, out, params):
    totals = {}
    for word, count in iter:
        totals[word] = totals.get(word, 0) + count
    for word in sorted(totals):
        out.add(word, totals[word])


def first_letter_partition(key, nr_partitions, params):
    return ord(key[:1]) % nr_partitions  # str (raw://) or bytes keys


def sorted_reduce(iter, params):
    # sort=True: the input arrives ordered by key; yield it unchanged
    for key, value in iter:
        yield key, value


def params_map(line, params):
    params.seen += 1
    yield line.strip(), params.factor * params.seen


def globals_map(line, params):
    # Task, this_partition, this_name, re and os come from the worker's globals
    yield this_name(), [Task.stage, this_partition(), bool(re.match('a', line)), os.sep]  # noqa: F821


def init_map(line, params):
    yield line.strip(), params.initialized


def set_initialized(input_iter, params):
    params.initialized = True


def failing_map_data(line, params):
    from disco.error import DataError
    raise DataError("simulated data problem", "raw://x")


def failing_map_fatal(line, params):
    raise ValueError("user code blew up")
    yield  # pragma: no cover


def printing_map(line, params):
    print("hello from map", line.strip())
    yield line.strip(), 1


def stray_output_map(line, params):
    os.write(1, b'raw fd output\n')  # noqa: F821
    yield line.strip(), 1


class ParamsJob(Job):
    """Job subclass with parameters as class attributes (getitem precedence)."""
    map = staticmethod(params_map)
    params = Params(factor=10, seen=0)
    partitions = 2
