"""
:mod:`disco.test` -- Disco's harness for tests that run real jobs
=================================================================

:class:`TestCase` runs jobs against a running master (``DISCO_MASTER``); a
test case defining ``serve(self, path)`` gets a :class:`TestServer` that
serves generated inputs over HTTP (``self.test_server.urls([...])``).
:class:`TestRunner`/:class:`TestLoader` run named test modules
(``disco test``).  See DISCO.md §7.
"""
from __future__ import annotations

import signal
import sys
import threading
import unittest
from http.server import BaseHTTPRequestHandler, HTTPServer
from itertools import zip_longest
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterable

from disco.core import Disco, result_iterator
from disco.ddfs import DDFS
from disco.error import CommError, DiscoError
from disco.job import Job, JobChain
from disco.settings import DiscoSettings
from disco.util import iterify
from disco.worker.pipeline.worker import Worker as PipelineWorker


class FailedReply(DiscoError):
    """Raised by a ``serve`` function to make the test server answer 500."""


class InterruptTest(DiscoError, unittest.SkipTest):
    """The test was interrupted with SIGINT."""


class TestServer(ThreadingMixIn, HTTPServer):
    """A threaded HTTP server answering ``GET /<path>`` with ``data_generator(path)``."""
    __test__ = False  # not a pytest test class
    daemon_threads = True
    allow_reuse_address = True

    @classmethod
    def create(cls, address: tuple, data_generator: Callable) -> 'TestServer':
        server = cls(address, TestHandler)
        server.data_generator = data_generator
        return server

    def start(self) -> None:
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return 'http://{0}:{1}'.format(self.public_host or host, port)

    public_host = None

    def urls(self, inputs: Iterable) -> list:
        """:return: one replica list of URLs per input (as Disco's harness)."""
        return [[self.address + '/' + str(item) for item in iterify(input)]
                for input in inputs]


class TestHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        try:
            data = self.server.data_generator(self.path.strip('/'))
        except FailedReply:
            self.send_error(500)
            return
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.send_response(200)
        self.send_header('Content-length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class TestCase(unittest.TestCase):
    """A test case with a Disco client, DDFS client and optional input server."""
    settings = DiscoSettings()

    @property
    def ddfs(self) -> DDFS:
        return DDFS(settings=self.settings)

    @property
    def disco(self) -> Disco:
        return Disco(settings=self.settings)

    @property
    def nodes(self) -> dict:
        return {host: info['max_workers'] for host, info in self.disco.nodeinfo().items()
                if not info.get('blacklisted')}

    @property
    def num_workers(self) -> int:
        return sum(info['max_workers'] for info in self.disco.nodeinfo().values())

    @property
    def test_server_address(self) -> tuple:
        return (str(self.settings['DISCO_TEST_HOST']), int(self.settings['DISCO_TEST_PORT']))

    def assertAllEqual(self, results: Iterable, answers: Iterable) -> None:
        for result, answer in zip_longest(results, answers):
            self.assertEqual(result, answer)

    def assertCommErrorCode(self, code: int, callable: Callable) -> None:
        try:
            callable()
        except CommError as error:
            self.assertEqual(code, error.code)
        else:
            self.fail("CommError({0}) not raised".format(code))

    def assertResults(self, job: Any, answers: Iterable) -> None:
        self.assertAllEqual(self.results(job), answers)

    def results(self, job: Any, **kwargs: Any) -> Any:
        return result_iterator(job.wait(), **kwargs)

    def run(self, result: Any = None) -> Any:
        def interrupt(signum: int, frame: Any) -> None:
            raise InterruptTest("Interrupted")
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, interrupt)
        try:
            return super().run(result)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def setUp(self) -> None:
        if hasattr(self, 'serve'):
            self.test_server = TestServer.create(self.test_server_address, self.serve)
            self.test_server.start()

    def tearDown(self) -> None:
        if hasattr(self, 'serve') and hasattr(self, 'test_server'):
            self.test_server.stop()
        job = getattr(self, 'job', None)
        if job is not None and self.settings['DISCO_TEST_PURGE']:
            try:
                purge_submitted(job)
            except CommError:
                pass


def purge_submitted(job: Any) -> None:
    """Purge ``job`` (a :class:`Job` or a :class:`JobChain`) if it was submitted."""
    if isinstance(job, JobChain):
        job.purge()
    elif '@' in str(getattr(job, 'name', '')):
        job.purge()


class TestJob(Job):
    __test__ = False

    @property
    def profile(self) -> bool:
        return bool(self.settings['DISCO_TEST_PROFILE'])


class TestPipe(TestJob):
    __test__ = False

    Worker = PipelineWorker


class TestLoader(unittest.TestLoader):
    __test__ = False

    def __init__(self, settings: DiscoSettings) -> None:
        super().__init__()
        self.settings = settings

    def loadTestsFromModule(self, module: Any, *args: Any, **kwargs: Any) -> Any:
        for name in dir(module):
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, TestCase):
                value.settings = self.settings
        return super().loadTestsFromModule(module, *args, **kwargs)


class TestRunner(unittest.TextTestRunner):
    """Runs named tests; verbosity from DISCO_DEBUG (off/log/trace -> 0/1/2)."""
    __test__ = False

    def __init__(self, settings: DiscoSettings, stream: Any = None) -> None:
        verbosity = {'off': 0, '': 0, 'log': 1, 'trace': 2}.get(str(settings['DISCO_DEBUG']), 1)
        super().__init__(stream=stream or sys.stderr, verbosity=verbosity)
        self.settings = settings

    def run(self, *names: str) -> Any:  # type: ignore[override]
        suite = TestLoader(self.settings).loadTestsFromNames(names)
        return super().run(suite)
