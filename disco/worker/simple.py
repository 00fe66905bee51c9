"""
:mod:`disco.worker.simple` -- a minimal worker for custom jobs
==============================================================

``run()`` calls the function named after the task's stage as
``function(worker, task, **jobargs)`` (DISCO.md §1.8).
"""
from __future__ import annotations

from typing import Any

from disco import util, worker


class Worker(worker.Worker):
    jobpack_version = 1

    def jobdict(self, job: Any, **jobargs: Any) -> dict:
        def get(key: str, default: Any = None) -> Any:
            return self.getitem(key, job, jobargs, default)
        jobdict = super().jobdict(job, **jobargs)
        jobdict.update({'input': util.inputlist(get('input', []), settings=job.settings),
                        'map?': bool(get('map')),
                        'reduce?': bool(get('reduce')),
                        'nr_reduces': get('partitions') or 1})
        return jobdict

    def run(self, task: Any, job: Any, **jobargs: Any) -> None:
        self.getitem(task.stage, job, jobargs)(self, task, **jobargs)


if __name__ == '__main__':
    Worker.main()
