"""Errors with special meaning in Disco (layer 0, stdlib only).

Disco's classes keep their names, constructors and string forms:

* :class:`DiscoError` -- the root of every error raised by Disco code.
* :class:`JobError` -- a job failed or a request about a job was invalid.
* :class:`DataError` -- a data resource could not be read; *recoverable*: a task
  that raises it is retried on another node.
* :class:`CommError` -- a :class:`DataError` raised by network communication;
  ``code`` is the HTTP status or None when no reply arrived.

Ours: :class:`ProtocolError`, :class:`JobPackError`, :class:`ConfigError`,
:class:`RequestError` and :class:`NotFound` (a bad or unanswerable REST request),
:class:`TagError` (the DDFS tag errors; :class:`InvalidTag` is also the client's
``disco.ddfs.InvalidTag``). Every class carries ``status``, the HTTP status a server
answers with when the error reaches a request handler, and :meth:`DiscoError.http_text`,
the reply's text: ``disco.serving.render_errors`` is the one middleware that renders
them (docs/architecture.md, "Errors"). Every exception class of the package derives
from :class:`DiscoError`.
"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class DiscoError(Exception):
    """The base class for all Disco errors."""

    #: HTTP status a server replies with when this error ends a request.
    status: int = 500

    def http_text(self) -> str:
        """The text of the HTTP reply when this error ends a request."""
        return str(self)


class JobError(DiscoError):
    """A job failed, or an invalid request about a job was made.

    ``job`` is a :class:`disco.job.Job` (anything with a ``name``) or a job name.
    """

    status = 400

    def __init__(self, job: Any, message: str) -> None:
        super().__init__(job, message)
        self.job, self.message = job, message

    @property
    def jobname(self) -> str:
        """The failed job's name."""
        return str(getattr(self.job, "name", self.job))

    def __str__(self) -> str:
        return f"Job {self.jobname} failed: {self.message}"


class DataError(DiscoError):
    """An error caused by an inability to access a data resource.

    The master treats these as recoverable: the task is retried on another node,
    and the job fails only if the task keeps failing.
    """

    status = 502

    def __init__(self, msg: str, url: Any, code: int | None = None) -> None:
        super().__init__(msg, url, code)
        self.msg, self.url, self.code = msg, url, code

    def __str__(self) -> str:
        msg = self.msg if self.code is None else f"{self.msg} ({self.code})"
        return f"Unable to access resource ({self.url}): {msg}"


class CommError(DataError):
    """An error caused by the inability to access a resource over the network.

    ``code`` is the HTTP status of the reply, or None if the server could not be reached.
    """


class InputNotFound(DiscoError):
    """Every replica of a job input answered "does not exist" (a missing file, HTTP 404).

    Not a DataError: running the task again cannot help, so the job fails at once and
    names the input, instead of retrying up to ``max_failure_rate`` times.
    """

    status = 404

    def __init__(self, url: Any, reasons: list[str]) -> None:
        super().__init__(url, reasons)
        self.url, self.reasons = url, reasons

    def __str__(self) -> str:
        return f"Input not found: {self.url} ({'; '.join(self.reasons)})"


class ProtocolError(DiscoError):
    """A peer broke a wire protocol (worker protocol, master <-> node link)."""

    status = 400


class JobPackError(DiscoError):
    """A submitted job pack is malformed; the message is Disco's error text."""

    status = 400


class ConfigError(DiscoError, ValueError):
    """A setting or the settings file has a value that cannot be used."""

    status = 500


class RequestError(DiscoError, ValueError):
    """A REST request the server cannot act on (malformed body, wrong type); 400."""

    status = 400


class NotFound(DiscoError, LookupError):
    """A REST request names something that does not exist (a job, a stage); 404."""

    status = 404


class TagError(DiscoError):
    """A DDFS tag operation failed; ``status`` and ``message`` are what Disco answers."""

    status = 500
    message = "Internal server error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message

    def http_text(self) -> str:
        return self.message


class InvalidTag(TagError):
    """A tag name DDFS does not accept (the client checks names before asking: ``disco.ddfs``)."""

    status, message = 403, "Invalid tag."

