"""The web tests' browser fixtures (Debian's Chromium via Playwright, one browser per module:
see tests/web/conftest.py) for the job page test."""
from tests.web.conftest import browser_page, chromium_browser  # noqa: F401 - fixtures
