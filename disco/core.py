"""
:mod:`disco.core` -- Disco's user API
=====================================

The names users import, as in Disco: :class:`Disco` (the master client of
:mod:`disco.client`, plus :meth:`Disco.new_job`), :class:`~disco.job.Job`,
:func:`~disco.results.result_iterator` and the errors.  This module only
gathers them: :mod:`disco.job` and :mod:`disco.client` never import it, so
the import graph has no cycle.
"""
from __future__ import annotations

from typing import Any

from disco import client
from disco.client import (  # noqa: F401  (Disco's names)
    HTTP_MARGIN, Continue, JobRef, Stats, client_version, http_request, parse_events)
from disco.error import CommError, DiscoError, JobError  # noqa: F401  (Disco re-exports)
from disco.job import Job, JobPack  # noqa: F401  (Disco re-exports)
from disco.results import result_inputs, result_iterator, strip_label  # noqa: F401


class Disco(client.Disco):
    """The client for the master at ``master`` (default ``DISCO_MASTER``)."""

    def new_job(self, name: str, **jobargs: Any) -> Job:
        """Run a :class:`~disco.job.Job` called ``name`` with ``jobargs``."""
        return Job(name=name, master=self.master).run(**jobargs)
