"""Job functions for the worker-reuse tests: each result says which process ran the task and
how many tasks that process had run (kept in an imported module, ``sys``: state of imported
modules survives worker reuse; the job's own objects are unpickled afresh for each task)."""
import os


def seen(line):
    import sys
    tasks = sys.__dict__.setdefault("_reuse_test_tasks", [])
    tasks.append(line)
    return len(tasks)


def pid_map(line, params):
    yield line, [os.getpid(), seen(line)]


def fail_once_map(line, params):
    """Raise a DataError (the task is retried) the first time input ``fail`` is mapped."""
    from disco.error import DataError
    marker = os.path.join(params.directory, "failed-once")
    if line == "fail" and not os.path.exists(marker):
        open(marker, "w").close()
        raise DataError("failing once on purpose", line)
    yield line, [os.getpid(), seen(line)]
