"""The fuzz suite (marker `fuzz`, left out of the default run like `chaos`).

    python -m pytest -m fuzz tests/fuzz                      # about a minute
    DISCO_FUZZ_SECONDS=300 DISCO_FUZZ_SEED=7 python -m pytest -m fuzz tests/fuzz

* ``DISCO_FUZZ_SECONDS``: the time budget of each fuzz target (default 6 s): examples after it
  are skipped, so a target ends soon after, whatever ``DISCO_FUZZ_EXAMPLES`` says.
* ``DISCO_FUZZ_EXAMPLES``: the most examples a target tries (default 100000).
* ``DISCO_FUZZ_SEED``: hypothesis' seed (default 0): a run is repeatable; change it to explore.

Every input must get a clear 4xx or a defined error (task failure, JobPackError, FramingError,
LinkProtocolError, DataError); no server may crash or answer 500, nothing stored may be lost.
"""
from __future__ import annotations

import os
import time

import hypothesis
import pytest
from hypothesis import HealthCheck

FUZZ_SECONDS = float(os.environ.get("DISCO_FUZZ_SECONDS", "6"))
FUZZ_EXAMPLES = int(os.environ.get("DISCO_FUZZ_EXAMPLES", "100000"))
FUZZ_SEED = int(os.environ.get("DISCO_FUZZ_SEED", "0"))

hypothesis.settings.register_profile(
    "disco-fuzz", max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
    suppress_health_check=list(HealthCheck), print_blob=True)


def fuzz_settings(func):
    """Seeded, budgeted hypothesis settings for one fuzz target."""
    return hypothesis.seed(FUZZ_SEED)(hypothesis.settings(
        hypothesis.settings.get_profile("disco-fuzz"))(func))


class BudgetSpent(BaseException):
    """Raised by an example once the budget is spent; a BaseException, so hypothesis stops at
    once instead of shrinking it (it only catches Exception as a test failure)."""


def fuzz(budget: "Budget", strategy, check) -> None:
    """Run `check(value)` on values of `strategy` (seeded) until the budget is spent."""
    @fuzz_settings
    @hypothesis.given(strategy)
    def examples(value) -> None:
        if budget.spent():
            raise BudgetSpent()
        check(value)

    try:
        examples()
    except BudgetSpent:
        pass


class Budget:
    """The time budget of one fuzz target (created once per test, not per example)."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.examples = 0

    def spent(self) -> bool:
        """True once the budget is used up; call first in each example."""
        if time.monotonic() > self.deadline:
            return True
        self.examples += 1
        return False


@pytest.fixture
def budget():
    b = Budget(FUZZ_SECONDS)
    yield b
    assert b.examples > 0, "the fuzz target ran no example"
