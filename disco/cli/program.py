"""What every `disco` subcommand shares: the global options (`Program`), the one-line
error (`CLIError`), and waiting for a job with a progress line on a terminal."""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import click

from disco.error import DiscoError

log = logging.getLogger(__name__)

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class CLIError(DiscoError, click.ClickException):
    """A failure explained to the user in one line (exit status 1)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        #: further lines printed after the message (e.g. a log tail)
        self.details = details

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)
        if self.details:
            click.echo(self.details, err=True)


# --------------------------------------------------------------------------------------
# Program state shared by all subcommands
# --------------------------------------------------------------------------------------
@dataclass
class Program:
    """What the global options select: settings, master URL, token, verbosity."""

    settings_file: str | None = None
    verbose: bool = False
    token: str | None = None
    master: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def settings(self):
        from disco.settings import DiscoSettings
        if self.settings_file:
            # DiscoSettings reads the file named by DISCO_SETTINGS_FILE (Disco's -s)
            os.environ["DISCO_SETTINGS_FILE"] = os.path.abspath(self.settings_file)
        settings = DiscoSettings(**self.overrides)
        if self.master:
            apply_master_option(settings, self.master)
        if self.token is not None:
            settings["DDFS_READ_TOKEN"] = self.token
            settings["DDFS_WRITE_TOKEN"] = self.token
        return settings

    @cached_property
    def disco(self):
        from disco.core import Disco
        return Disco(master=self.settings["DISCO_MASTER"], settings=self.settings)

    @cached_property
    def ddfs(self):
        from disco.ddfs import DDFS
        return DDFS(settings=self.settings)

    def job_history(self, jobname: str) -> str:
        """Resolve Disco's job references: `@` = newest job, `@?text` = newest job whose
        name contains text; anything else is a job name."""
        if jobname != "@" and not jobname.startswith("@?"):
            return jobname
        needle = jobname[2:]
        for _start, _status, name in self.disco.joblist():
            if needle in name:
                return name
        if jobname == "@":
            raise CLIError("no jobs on the master: '@' refers to the most recent job")
        raise CLIError(f"no job whose name contains {needle!r}")


def apply_master_option(settings, master: str) -> None:
    """-M HOST[:PORT] or a URL: point DISCO_MASTER (and the host/port) at it."""
    from urllib.parse import urlsplit
    url = master if "://" in master else f"http://{master}"
    parts = urlsplit(url)
    if not parts.hostname:
        raise click.BadParameter(f"{master!r} is not HOST[:PORT]", param_hint="-M/--master")
    port = parts.port or settings.get_int("DISCO_PORT")
    settings["DISCO_MASTER_HOST"] = parts.hostname
    settings["DISCO_PORT"] = port
    settings["DISCO_MASTER"] = f"{parts.scheme}://{parts.hostname}:{port}"


pass_program = click.make_pass_decorator(Program)


def wait_for_job(program: Program, name: str, timeout: float | None = None,
                 progress: bool | None = None) -> list:
    """Block until job `name` is ready; return its results or raise CLIError."""
    show = sys.stdout.isatty() if progress is None else progress
    deadline = None if timeout is None else time.monotonic() + timeout
    reporter = ProgressLine(program, name) if show else None
    try:
        while True:
            job_status, urls = poll_results(program, name)
            if job_status == "ready":
                return urls
            if job_status != "active":
                raise CLIError(job_failure(program, name, job_status))
            if deadline is not None and time.monotonic() > deadline:
                raise CLIError(f"job {name} still active after {timeout:g} s")
            if reporter:
                reporter.update()
    finally:
        if reporter:
            reporter.clear()


def poll_results(program: Program, name: str) -> tuple[str, list]:
    """One `get_results` round trip; the master blocks up to 1 s while the job runs."""
    from disco.error import CommError
    try:
        return program.disco.results(name, timeout=1000)
    except CommError as e:
        if e.code is None:
            raise
        # Disco's wait treats a transient error while polling as "still active"
        log.debug("polling %s: %s", name, e)
        time.sleep(0.5)
        return "active", []


def job_failure(program: Program, name: str, job_status: str) -> str:
    """A one-line explanation of a job that did not become ready."""
    if job_status == "unknown job":
        return f"unknown job {name}"
    reason = last_error_event(program, name)
    hint = f"; see `disco events {name}`"
    return f"job {name} {job_status}" + (f": {reason}" if reason else "") + hint


def last_error_event(program: Program, name: str) -> str:
    """The last ERROR/FATAL/WARNING event of a job ('' if none can be read)."""
    try:
        text = program.disco.rawevents(name)
    except Exception as e:  # the explanation is best-effort; never mask the failure
        log.debug("reading events of %s: %s", name, e)
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    found = ""
    for line in text.splitlines():
        try:
            _when, _host, message = json.loads(line)
        except (ValueError, TypeError):
            continue
        if message.startswith(("ERROR", "FATAL", "WARN")):
            found = message
    return found.splitlines()[0] if found else ""


class ProgressLine:
    """Per-stage progress of a job on one rewritten terminal line (stderr)."""

    def __init__(self, program: Program, name: str) -> None:
        self.program, self.name = program, name
        self.width = 0

    def update(self) -> None:
        try:
            info = self.program.disco.jobinfo(self.name)
        except Exception as e:  # progress is cosmetic; the result poll reports real errors
            log.debug("jobinfo %s: %s", self.name, e)
            return
        self.write(f"{self.name}: {format_pipeline(info.get('pipeline', []))}")

    def write(self, text: str) -> None:
        padding = " " * max(0, self.width - len(text))
        click.echo(f"\r{text}{padding}", nl=False, err=True)
        self.width = len(text)

    def clear(self) -> None:
        if self.width:
            click.echo("\r" + " " * self.width + "\r", nl=False, err=True)


def format_pipeline(pipeline: list) -> str:
    """`map 3/4 (1 running) | reduce 0/2` from jobinfo's pipeline rows."""
    parts = []
    for row in pipeline:
        stage, pending, waiting, running, done, failed = (list(row) + [0] * 6)[:6]
        total = pending + waiting + running + done
        text = f"{stage} {done}/{total}"
        extras = [f"{running} running"] if running else []
        extras += [f"{failed} failed"] if failed else []
        parts.append(text + (f" ({', '.join(extras)})" if extras else ""))
    return " | ".join(parts) or "starting"
