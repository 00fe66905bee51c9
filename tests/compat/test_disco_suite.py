"""Disco 0.5.4's own test suite passes against our package and cluster (see suite.py).

One test here per upstream file; its failure message lists each upstream test that did
not pass, with its output. ``DISCO_COMPAT_SLOW=1`` adds the heavy tests (test_50k,
test_pipe). The per-file table of the last run is written to
``test-artifacts/disco-compat.md``.
"""
from __future__ import annotations

import pytest

from tests.compat import suite

TESTS = suite.tests_dir()
FILES = suite.upstream_files(TESTS) if TESTS else ["(Disco's tests not found)"]

pytestmark = [pytest.mark.xdist_group("disco_compat"),
              pytest.mark.timeout(suite.FILE_TIMEOUT + 300)]


@pytest.mark.parametrize("name", FILES)
def test_upstream_file(disco_suite, name):
    home, cluster, reports = disco_suite
    if name in suite.EXCLUDED:
        pytest.skip(f"excluded: {suite.EXCLUDED[name]}")
    if name in suite.SLOW and not suite.slow_mode():
        pytest.skip(f"slow mode only (DISCO_COMPAT_SLOW=1): {suite.SLOW[name]}")
    deselect = suite.deselected(name, cluster.on_defaults)
    try:
        result = suite.run_file(name, home, cluster.environment(home), reports, deselect)
    finally:
        cluster.kill_active_jobs()
    suite.record(result, deselect)
    if not result.outcomes and deselect and result.returncode == 5:
        pytest.skip("every test of the file is excluded: "
                    + "; ".join(f"{k}: {v}" for k, v in deselect.items()))
    problems = result.problems()
    assert not problems, (f"{len(problems)} upstream test(s) of {name} did not pass:\n\n"
                          + "\n\n".join(problems))
    assert result.outcomes, f"{name} ran no test:\n{result.output[-3000:]}"
