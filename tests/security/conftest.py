"""Fixtures shared with other parts of the suite."""
from tests.compat.disco054 import disco_lib  # noqa: F401 - Disco 0.5.4's client library
