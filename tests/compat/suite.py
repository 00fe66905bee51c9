"""Disco 0.5.4's own test suite, run against our package and a real cluster of ours.

The upstream files (``../shared/disco-0.5.4/tests`` beside the project, or the directory in
``DISCO_COMPAT_TESTS``) are never copied into the project nor edited: at run time they are
copied, with Disco's ``ext/`` C helper, into a temporary ``DISCO_HOME`` laid out as Disco's
own runner expects it (``tests/``, ``ext/``, and ``examples/``, which points at our own
versions of Disco's examples). Each upstream file is then run on its own with pytest, as
Disco's runner ran each test against an already running master, and its JUnit report is
read back test by test.

Every upstream test must pass, but for the ones in :data:`EXCLUDED` (each with one of the
reasons the compatibility issue allows) and :data:`EXPECTED_SKIPS` (tests whose own code
ends in a skip). :data:`SLOW` tests run only in the slow mode (``DISCO_COMPAT_SLOW=1``).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from disco.testing.cluster import LocalCluster, free_port, port_is_free

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TESTS = REPO.parent / "shared" / "disco-0.5.4" / "tests"

#: Disco's defaults: the master on this machine's host name, port 8989; the test server on 9444.
DISCO_PORT = 8989
DISCO_TEST_PORT = 9444

INTERNET = "needs the internet (http://discoproject.org/media/text/chekhov.txt)"
ENCODESTRING = ("calls base64.encodestring/decodestring in its own job code, which Python 3.9 "
                "removed")
#: Upstream tests that cannot pass here, and why; only these reasons are allowed.
EXCLUDED: dict[str, str] = {
    "test_ddfs.py::DDFSWriteTestCase::test_chunk": INTERNET,
    "test_examples.py::ExamplesTestCase::test_chunk": INTERNET,
    "test_examples.py::ExamplesTestCase::test_grep": INTERNET,
    "test_examples.py::ExamplesTestCase::test_wordcount": INTERNET,
    "test_examples.py::ExamplesTestCase::test_discodb": (
        "needs Disco's discodb native library (DISCO_TEST_DISCODB), which Debian does not "
        "package (and the chekhov text from the internet)"),
    "test_sort.py::SortTestCase::runTest": ENCODESTRING,
    "test_pipeline_sort.py::SortTestCase::runTest": ENCODESTRING,
    "test_gc.py": "Python 2 syntax (print statement): the file does not compile on Python 3",
}

#: Upstream tests whose own code ends in a skip when they work.
EXPECTED_SKIPS: dict[str, str] = {
    "test_sigint.py::InterruptTestCase::runTest": (
        "calls the SIGINT handler that disco.test.TestCase installs, which raises "
        "InterruptTest (a SkipTest): the skip is the test's success"),
}

#: Heavy upstream tests, run only in the slow mode.
SLOW: dict[str, str] = {
    "test_50k.py::ManyMapTestCase::test_50k": "50,000 HTTP inputs",
    "test_pipe.py": "1,000 inputs through 12-stage pipelines",
}

#: Longest one upstream file may run (the slow ones included).
FILE_TIMEOUT = 1800


@dataclass
class Outcome:
    """One upstream test's result, read from the JUnit report."""

    test_id: str
    status: str          # passed, failed, error, skipped
    message: str = ""
    seconds: float = 0.0


@dataclass
class FileResult:
    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    returncode: int = 0
    output: str = ""

    def problems(self) -> list[str]:
        """What makes this file fail: unexpected outcomes, stale table entries."""
        found = []
        for outcome in self.outcomes:
            if outcome.status == "passed":
                continue
            if outcome.status == "skipped" and outcome.test_id in EXPECTED_SKIPS:
                continue
            found.append(f"{outcome.test_id}: {outcome.status}\n{outcome.message}")
        if not self.outcomes and self.returncode not in (0, 5):
            found.append(f"{self.name}: pytest exited with {self.returncode}, no report\n"
                         + self.output[-3000:])
        return found


def tests_dir() -> Path | None:
    """Disco's tests directory, or None when it is not on this machine."""
    path = Path(os.environ.get("DISCO_COMPAT_TESTS") or DEFAULT_TESTS)
    return path if (path / "testcases.py").is_file() else None


def slow_mode() -> bool:
    return os.environ.get("DISCO_COMPAT_SLOW", "") not in ("", "0")


def upstream_files(tests: Path) -> list[str]:
    return sorted(p.name for p in tests.glob("test_*.py"))


def file_of(test_id: str) -> str:
    return test_id.split("::", 1)[0]


def build_home(tests: Path, root: Path) -> Path:
    """A DISCO_HOME as Disco's runner sees it: ``tests/`` and ``ext/`` (copies, so that
    test_external can build its binary beside the tests), ``examples/`` (ours)."""
    home = root / "disco-home"
    shutil.copytree(tests, home / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    ext = tests.parent / "ext"
    if ext.is_dir():
        shutil.copytree(ext, home / "ext")
    (home / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    return home


def master_host() -> str:
    """Disco's default master host: this machine's name, if it resolves to a local address."""
    name = socket.gethostname()
    try:
        socket.getaddrinfo(name, None)
    except OSError:
        return "localhost"
    return name


class SuiteCluster:
    """Our cluster, on Disco's default master address when it is free (``<hostname>:8989``),
    Disco's test server on ``<hostname>`` and a free port; two nodes, two slots each."""

    hosts = ("127.0.0.2", "127.0.0.3")

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = master_host()
        addresses = sorted({socket.gethostbyname(self.host), *self.hosts})
        self.on_defaults = all(port_is_free(a, DISCO_PORT) for a in addresses)
        port = DISCO_PORT if self.on_defaults else free_port(addresses)
        # Disco's test server port (9444) is not asserted by any test: a free one keeps two
        # runs on one machine apart
        test_port = free_port([self.host], avoid={port, DISCO_TEST_PORT})
        self.local = LocalCluster(root / "cluster", hosts=self.hosts, workers=2,
                                  master_host=self.host,
                                  settings={"DISCO_PORT": port,
                                            "DISCO_MASTER": f"http://{self.host}:{port}",
                                            "DISCO_TEST_HOST": self.host,
                                            "DISCO_TEST_PORT": test_port})

    def start(self) -> "SuiteCluster":
        self.local.start(timeout=90)
        return self

    def stop(self) -> None:
        self.local.stop()

    def kill_active_jobs(self) -> list[str]:
        """Kill the jobs a file left running (test_sigint's job, whose input server is
        gone, would retry for minutes and hold the slots the next file needs)."""
        disco = self.local.disco
        active = [name for _start, status, name in disco.joblist() if status == "active"]
        for name in active:
            disco.kill(name)
        return active

    def environment(self, home: Path) -> dict[str, str]:
        """The environment of an upstream test process: the cluster's settings, Disco's
        home, no purging between tests (as Disco's run_tests script), warnings off (a
        warning printed by a worker is a MSG, not a failure)."""
        env = self.local.client_env()
        env.update({"DISCO_HOME": str(home), "DISCO_TEST_PURGE": "",
                    "PYTHONDONTWRITEBYTECODE": "1", "PYTHONWARNINGS": "ignore",
                    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
        env.pop("PYTHONPATH", None)
        return env


def deselected(name: str, on_defaults: bool) -> dict[str, str]:
    """Upstream test ids of file ``name`` not to run, with the reason."""
    skipped = {test_id: reason for test_id, reason in EXCLUDED.items()
               if file_of(test_id) == name and test_id != name}
    if not slow_mode():
        skipped.update({test_id: "slow mode only: " + reason for test_id, reason in
                        SLOW.items() if file_of(test_id) == name and test_id != name})
    if not on_defaults and name == "test_util.py":
        skipped["test_util.py::UtilTestCase::test_urlresolve"] = (
            f"expects the master at <hostname>:{DISCO_PORT}, which is busy on this machine")
    return skipped


def run_file(name: str, home: Path, env: dict[str, str], report_dir: Path,
             deselect: Iterable[str] = ()) -> FileResult:
    """Run one upstream file with pytest in ``home/tests``; read its JUnit report."""
    report = report_dir / f"{name}.xml"
    command = [sys.executable, "-m", "pytest", name, "-q", "-p", "pytest_timeout",
               "-p", "no:cacheprovider", "--timeout", str(FILE_TIMEOUT),
               f"--junitxml={report}", "-o", "junit_family=xunit1"]
    for test_id in deselect:
        command += ["--deselect", test_id]
    started = time.monotonic()
    done = subprocess.run(command, cwd=home / "tests", env=env, capture_output=True,
                          text=True, timeout=FILE_TIMEOUT + 120)
    result = FileResult(name, seconds=time.monotonic() - started,
                        returncode=done.returncode, output=done.stdout + done.stderr)
    if report.is_file():
        result.outcomes = read_report(report, name)
    return result


def read_report(path: Path, name: str) -> list[Outcome]:
    outcomes = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        test_id = "::".join([name] + case.get("classname", "").split(".")[1:]
                            + [case.get("name", "")])
        status, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                status = {"failure": "failed"}.get(kind, kind)
                message = ((element.get("message") or "") + "\n"
                           + (element.text or ""))[-4000:]
                break
        outcomes.append(Outcome(test_id, status, message, float(case.get("time") or 0)))
    return outcomes


ARTIFACTS = REPO / "test-artifacts" / "disco-compat"


def record(result: FileResult, deselect: dict[str, str]) -> None:
    """Keep the file's outcome for the summary table (``python -m tests.compat.suite``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for outcome in result.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    row = {"file": result.name, "seconds": round(result.seconds, 1), "counts": counts,
           "deselected": deselect, "problems": len(result.problems())}
    (ARTIFACTS / f"{result.name}.json").write_text(json.dumps(row, indent=1))


def render_table() -> str:
    """The per-file table of the last run, in markdown."""
    lines = ["| file | passed | skipped (expected) | not run (excluded or slow) | "
             "not passing | seconds |", "|---|---|---|---|---|---|"]
    totals = [0, 0, 0, 0, 0.0]
    for path in sorted(ARTIFACTS.glob("*.json")):
        row = json.loads(path.read_text())
        counts = row["counts"]
        values = [counts.get("passed", 0), counts.get("skipped", 0), len(row["deselected"]),
                  row["problems"], row["seconds"]]
        totals = [t + v for t, v in zip(totals, values)]
        lines.append("| {0} | {1} | {2} | {3} | {4} | {5} |".format(row["file"], *values))
    lines.append("| **total** | {0} | {1} | {2} | {3} | {4:.0f} |".format(*totals))
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_table())
