"""Browser fixtures for the web UI tests: Debian's Chromium driven by Playwright.

Never `playwright install`: the tests use /usr/bin/chromium (apt-get install -y chromium)
and skip, saying so, when it or the playwright package is missing.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


# Module scope: a session-wide Playwright would own the main thread's event loop for every
# later test on that xdist worker (their asyncio.run fails there).
@pytest.fixture(scope="module")
def chromium_browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the 'playwright' Python package (pip install playwright; "
                    "its own browser download is not used)")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(
            f"browser tests need Debian's Chromium at {CHROMIUM}: apt-get install -y chromium"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageProbe:
    """A page plus what it logged: JS errors and dialogs (an alert would mean injected script)."""

    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def browser_page(chromium_browser):
    # bypass_csp: Playwright's string predicates need eval; the CSP itself is tested by header.
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    probe = PageProbe(page)
    yield probe
    context.close()
    assert not probe.errors, f"JavaScript errors: {probe.errors}"
    assert not probe.dialogs, f"unexpected dialogs (injected script?): {probe.dialogs}"
