"""A browser page for the job page test: Debian's Chromium via Playwright, as the web tests
(tests/web/conftest.py), but started and stopped within the test. Playwright's sync API runs
an event loop in the main thread while it is open; a session-wide browser would leave it
running for the tests after this one on the same pytest worker (asyncio.run fails there)."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, PageProbe


@pytest.fixture
def browser_page():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the 'playwright' Python package (pip install playwright; "
                    "its own browser download is not used)")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        probe = PageProbe(page)
        yield probe
        context.close()
        browser.close()
    assert not probe.errors, f"JavaScript errors: {probe.errors}"
    assert not probe.dialogs, f"unexpected dialogs (injected script?): {probe.dialogs}"
