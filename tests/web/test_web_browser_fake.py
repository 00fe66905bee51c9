"""Browser tests of the pages against the in-memory stand-in master (fake_master.py).

They check what the pages do with the documented JSON (rendering, filters, live updates,
confirmations, error messages, escaping) without starting a cluster.
"""
from __future__ import annotations

import time

import pytest

from web_helpers import ThreadedServer
from fake_master import FakeMaster, demo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture
def fake():
    master = FakeMaster()
    with ThreadedServer(master.app()) as server:
        server.master = master
        yield server


def test_overview_nodes_jobs_gc_and_version(browser_page, fake):
    fake.master.add_job("Busy@1:2:3", maps=6, task_seconds=30)
    page = browser_page.page
    page.goto(fake.url + "/?refresh=0.5")
    page.wait_for_selector(".nodebox .slot.busy")
    assert page.locator(".nodebox").count() == 3
    assert "Disco 0.6.0" in page.locator("header .version").inner_text()
    row = page.locator("#joblist tr.job", has_text="Busy@1:2:3")
    row.hover()
    assert page.locator(".slot.highlight").count() == page.locator(".slot.busy").count() > 0
    page.locator(".slot.busy").first.click()
    assert page.locator("#job-filter").input_value() == "Busy@1:2:3"
    page.click("#gc-start")
    page.wait_for_selector("text=GC is scanning DDFS")
    browser_page.screenshot("fake-overview")


def test_overview_filter_and_1000_jobs(browser_page):
    master = FakeMaster(jobs=1000)
    with ThreadedServer(master.app()) as server:
        page = browser_page.page
        started = time.monotonic()
        page.goto(server.url + "/")
        page.wait_for_selector("#joblist tr.job")
        assert page.locator("#joblist tr.job").count() == 1000
        page.fill("#job-filter", "Job99")
        page.wait_for_function("document.querySelectorAll('#joblist tr.job').length === 11")
        assert time.monotonic() - started < 15


def test_job_page_progresses_and_stops_polling(browser_page, fake):
    job = fake.master.add_job("Quick@1:2:3", maps=3, reduces=1, task_seconds=0.5, fail={1})
    page = browser_page.page
    page.goto(fake.url + "/job.html?name=" + job.name + "&refresh=0.3")
    page.wait_for_selector("#nfo-status.ready", timeout=20_000)
    assert page.locator("#stages tr").count() == 2
    assert page.locator("#results .replicas").count() >= 1
    assert page.locator("#timeline .tl-task.failed").count() == 1
    assert page.locator(".event.ready").count() == 1
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.wait_for_timeout(1500)
    assert not [url for url in requests if "jobinfo" in url or "jobevents" in url], (
        "finished job still polled"
    )
    browser_page.screenshot("fake-job-ready")


def test_job_events_filter_by_text_and_host(browser_page, fake):
    job = fake.master.add_job("Events@1:2:3", maps=4, reduces=1, task_seconds=0.2)
    page = browser_page.page
    page.goto(fake.url + "/job.html?name=" + job.name)
    page.wait_for_selector("#nfo-status.ready")
    page.fill("#event-text", "assigned")
    page.click("#event-filter button[type=submit]")
    page.wait_for_function(
        "[...document.querySelectorAll('.event .text')]"
        ".every(e => e.textContent.includes('assigned'))"
    )
    page.select_option("#event-host", "master")
    texts = page.locator(".event .node").all_inner_texts()
    assert texts and set(texts) == {"master"}
    # an event text with markup is shown as text, never run
    page.click("#event-clear")
    page.wait_for_selector("text=<script>alert(1)</script>")


def test_kill_asks_for_confirmation(browser_page, fake):
    job = fake.master.add_job("Long@1:2:3", maps=4, task_seconds=60)
    page = browser_page.page
    page.goto(fake.url + "/job.html?name=" + job.name + "&refresh=0.5")
    page.wait_for_selector("#nfo-status.active")
    page.click("#kill-job")
    page.click("dialog.confirm .cancel")
    assert fake.master.jobs[job.name].killed_at is None
    page.click("#kill-job")
    page.click("dialog.confirm .ok")
    page.wait_for_selector("#nfo-status.dead")
    assert page.locator("#kill-job").is_disabled()


def test_unknown_job_shows_a_message(browser_page, fake):
    page = browser_page.page
    page.goto(fake.url + "/job.html?name=" + "<b>nope</b>")
    # under load a first poll may fail otherwise ("Could not load the job"); the 404 follows
    message = page.wait_for_selector("#messages .message.error:has-text('Unknown job')")
    assert "<b>nope</b>" in message.inner_text()


def test_oversized_filter_is_refused_visibly(browser_page, fake):
    job = fake.master.add_job("Filter@1:2:3", maps=1, reduces=1, task_seconds=0.1)
    page = browser_page.page
    page.goto(fake.url + "/job.html?name=" + job.name)
    page.wait_for_selector("#nfo-status.ready")
    page.eval_on_selector(
        "#event-text", "(e) => { e.removeAttribute('maxlength'); e.value = 'x'.repeat(5000); }"
    )
    page.click("#event-filter button[type=submit]")
    assert "too long" in page.wait_for_selector("#messages .message.error").inner_text()


def test_config_table_edit_save_and_errors(browser_page, fake):
    page = browser_page.page
    page.goto(fake.url + "/config.html")
    page.wait_for_selector("#config-rows tr")
    page.click("#add-row")
    page.locator("#config-rows tr").last.locator(".host").fill("127.0.0.5")
    page.locator("#config-rows tr").last.locator(".workers").fill("3")
    page.click("#save-table")
    message = page.wait_for_selector("#messages .message").inner_text()
    assert "table saved!" in message, message
    assert ["127.0.0.5", "3"] in fake.master.config
    # a duplicate host: the master's 400 is shown
    page.click("#add-row")
    page.locator("#config-rows tr").last.locator(".host").fill("127.0.0.5")
    page.locator("#config-rows tr").last.locator(".workers").fill("1")
    page.click("#save-table")
    assert "duplicate nodes" in page.wait_for_selector("#messages .message.error").inner_text()
    # malformed cells are caught before sending
    page.locator("#config-rows tr").last.locator(".workers").fill("")
    page.locator("#config-rows tr").last.locator(".host").fill("bad host!")
    page.click("#save-table")
    page.wait_for_selector("text=is not a host name or range")
    # blacklists and settings
    page.fill("#blacklist-host", "127.0.0.3")
    page.click("#blacklist-form button")
    page.wait_for_selector("#blacklist .bnode[data-host='127.0.0.3']")
    page.fill("#gc-blacklist-host", "127.0.0.2")
    page.click("#gc-blacklist-form button")
    page.wait_for_selector("#gc-blacklist .bnode.safe[data-host='127.0.0.2']")
    page.fill("#max_failure_rate", "7")
    page.select_option("#accept_new_jobs", "0")
    page.click("#settings-form button")
    page.wait_for_selector("text=Settings saved")
    assert fake.master.settings == {"max_failure_rate": 7, "accept_new_jobs": 0}
    browser_page.screenshot("fake-config")
    page.click("#blacklist .bnode[data-host='127.0.0.3'] button")
    page.wait_for_selector("#blacklist .empty")


def test_ddfs_browser_escapes_tag_names(browser_page, fake):
    page = browser_page.page
    page.goto(fake.url + "/ddfs.html")
    page.wait_for_selector("#tags a")
    assert "<img src=x onerror=alert(1)>" in page.locator("#tags").inner_text()
    page.click("#tags a[data-tag='data:words']")
    page.wait_for_selector("#tag-urls .replicas")
    assert page.locator("#tag-urls .replicas").count() == 3
    assert page.locator("#tag-urls .redundant").count() == 3
    href = page.locator("#tag-urls a.url").first.get_attribute("href")
    assert href.startswith("http://127.0.0.2:") and "/ddfs/vol0/blob/" in href
    page.fill("#prefix", "data:l")
    page.click("#prefix-form button")
    page.wait_for_function("document.querySelectorAll('#tags a').length === 1")
    page.click("#tags a[data-tag='data:links']")
    page.click("#tag-urls a.url")                      # a tag:// link opens that tag
    page.wait_for_selector("#tag-title:has-text('data:words')")
    assert "token" not in page.locator("#tag-body").inner_text().lower()


def test_demo_screenshots(browser_page):
    """Screenshots of every page with a populated stand-in cluster (test-artifacts/demo-*.png)."""
    master = demo()
    with ThreadedServer(master.app()) as server:
        page = browser_page.page
        # each page, and what proves it shows the stand-in cluster's data
        for name, path, shown in (
                ("overview", "/", ".nodebox .slot.busy"),
                ("job", "/job.html?name=LongJob@5:1:1", "#nfo-status"),
                ("config", "/config.html", "#settings-table tr.setting"),
                ("ddfs", "/ddfs.html?tag=data:words", "#tag-urls .replicas")):
            page.goto(server.url + path)
            page.wait_for_selector(shown)
            page.wait_for_load_state("networkidle")
            assert page.locator("#messages .message.error").count() == 0, name
            shot = browser_page.screenshot("demo-" + name)
            assert shot.stat().st_size > 10_000, f"{shot} is (nearly) empty"
