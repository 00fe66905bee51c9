"""The cluster and Disco home the upstream suite runs against (one per test session)."""
from __future__ import annotations

import pytest

from tests.compat.disco054 import disco_lib  # noqa: F401 - fixture
from tests.compat.suite import SuiteCluster, build_home, tests_dir


@pytest.fixture(scope="session")
def disco_suite(tmp_path_factory):
    """``(home, cluster, report_dir)``: Disco's home with its tests, and our cluster."""
    tests = tests_dir()
    if tests is None:
        pytest.skip("Disco 0.5.4's tests are not here (../shared/disco-0.5.4/tests, or set "
                    "DISCO_COMPAT_TESTS): the compatibility suite cannot run")
    root = tmp_path_factory.mktemp("disco-compat")
    home = build_home(tests, root)
    cluster = SuiteCluster(root).start()
    reports = root / "reports"
    reports.mkdir()
    try:
        yield home, cluster, reports
    finally:
        cluster.stop()
