"""``dir://`` URLs (index files): the records of every listed file with the task's label."""
from __future__ import annotations

from typing import Any, Iterator

from disco import schemes
from disco.error import DataError
from disco.util import inputlist, iterify, shuffled


def open(url: str, task: Any = None) -> Iterator[Any]:
    """Records of the index's files for ``task.group_label`` (all labels without a task)."""
    label = task.group_label if task is not None else None
    return _records(shuffled(inputlist([url], label=label)), task)


def _records(inputs: list[Any], task: Any) -> Iterator[Any]:
    for replicas in inputs:
        yield from _first_readable(list(iterify(replicas)), task)


def _first_readable(replicas: list[str], task: Any) -> Iterator[Any]:
    last_error: DataError | None = None
    for replica in replicas:
        try:
            records = schemes.open_chain(replica, task=task)
        except DataError as e:
            last_error = e
            continue
        yield from records
        return
    if last_error is not None:
        raise last_error
