"""End-to-end: the pages in Chromium against a real master and nodes (disco.testing.LocalCluster).

Screenshots of each page are kept under test-artifacts/cluster-*.png.
"""
from __future__ import annotations

import json
import urllib.request

import pytest

from cluster_jobs import get_json, submit
from disco.testing.cluster import poll_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_overview_job_page_progresses_to_ready(browser_page, shared_cluster):
    url = shared_cluster.master_url
    page = browser_page.page
    page.goto(url + "/?refresh=0.5")
    page.wait_for_selector(".nodebox")
    assert page.locator(".nodebox").count() == 3
    name = submit(url, "WebReady", [0.5, 0.5, 0.5, 1.5])
    row = page.wait_for_selector(f"#joblist tr.job[data-job='{name}']")
    browser_page.screenshot("cluster-overview")
    row.click()
    page.wait_for_url("**/job.html?name=*")
    page.wait_for_selector("#nfo-status.ready", timeout=60_000)
    assert page.locator("#stages tr").count() == 2
    done = page.locator("#stages tr[data-stage='map'] td").nth(4).inner_text()
    assert done == "4"
    assert page.locator("#results .replicas").count() >= 1
    assert page.locator("#timeline .tl-task.done").count() == 5
    assert page.locator(".event.ready").count() == 1
    browser_page.screenshot("cluster-job-ready")


def test_job_events_filter(browser_page, shared_cluster):
    url = shared_cluster.master_url
    name = submit(url, "WebEvents", [0.2, 0.3])
    page = browser_page.page
    page.goto(f"{url}/job.html?name={name}&refresh=0.5")
    page.wait_for_selector("#nfo-status.ready", timeout=60_000)
    page.fill("#event-text", "sleeping")
    page.click("#event-filter button[type=submit]")
    page.wait_for_function(
        "document.querySelectorAll('.event').length === 2 && "
        "[...document.querySelectorAll('.event .text')]"
        ".every(e => e.textContent.includes('sleeping'))"
    )
    page.click("#event-clear")
    page.wait_for_function("document.querySelectorAll('.event').length > 2")
    page.select_option("#event-host", "master")
    assert set(page.locator(".event .node").all_inner_texts()) == {"master"}


def test_kill_running_job(browser_page, shared_cluster):
    url = shared_cluster.master_url
    name = submit(url, "WebKill", [60], reduce=False)
    page = browser_page.page
    page.goto(f"{url}/job.html?name={name}&refresh=0.5")
    page.wait_for_selector("#timeline .tl-task.running", timeout=60_000)
    browser_page.screenshot("cluster-job-running")
    page.click("#kill-job")
    page.click("dialog.confirm .ok")
    page.wait_for_selector("#nfo-status.dead", timeout=30_000)
    assert get_json(url, f"/disco/ctrl/jobinfo?name={name}")["active"] == "dead"


def test_unknown_job_message(browser_page, shared_cluster):
    page = browser_page.page
    page.goto(shared_cluster.master_url + "/job.html?name=NoSuchJob@1:2:3")
    assert "Unknown job" in page.wait_for_selector("#messages .message.error").inner_text()


def test_browse_ddfs_tag(browser_page, shared_cluster):
    url = shared_cluster.master_url
    blobs = [[f"disco://127.0.0.2/ddfs/vol0/blob/aa/webblob{i}$5a5-1-2",
              f"disco://127.0.0.3/ddfs/vol0/blob/aa/webblob{i}$5a5-1-2"] for i in range(2)]
    request = urllib.request.Request(f"{url}/ddfs/tag/web:browse", data=json.dumps(blobs).encode(),
                                     method="POST")
    urllib.request.urlopen(request, timeout=30).read()
    page = browser_page.page
    page.goto(url + "/ddfs.html?prefix=web:")
    page.click("#tags a[data-tag='web:browse']")
    page.wait_for_selector("#tag-urls .replicas")
    assert page.locator("#tag-urls .replicas").count() == 2
    assert page.locator("#tag-urls .redundant").count() == 2
    browser_page.screenshot("cluster-ddfs")


@pytest.mark.process  # the master starts the added node's process itself
def test_add_node_from_config_page_then_blacklist(browser_page, cluster):
    local = cluster(hosts=("127.0.0.2",))
    url = local.master_url
    page = browser_page.page
    page.goto(url + "/config.html")
    page.wait_for_selector("#config-rows tr")
    page.click("#add-row")
    page.locator("#config-rows tr").last.locator(".host").fill("127.0.0.3")
    page.locator("#config-rows tr").last.locator(".workers").fill("2")
    page.click("#save-table")
    page.wait_for_selector("#messages .message.info")
    local.wait_for_nodes(["127.0.0.2", "127.0.0.3"], timeout=60)
    name = submit(url, "WebNewNode", [0.3] * 8)
    poll_for(
        lambda: get_json(url, "/disco/ctrl/nodeinfo").get("127.0.0.3", {}).get("job_ok", 0) > 0,
        timeout=60,
        message="the added node took no task",
    )
    poll_for(
        lambda: get_json(url, f"/disco/ctrl/jobinfo?name={name}")["active"] == "ready", timeout=60
    )
    page.goto(url + "/?refresh=0.5")
    box = page.locator(".nodebox[data-host='127.0.0.3']")
    page.wait_for_function(
        "Number(document.querySelector(\".nodebox[data-host='127.0.0.3'] .counters .ok\")"
        "?.textContent) > 0"
    )
    assert "disconnected" not in box.get_attribute("class")
    page.goto(url + "/config.html")
    page.fill("#blacklist-host", "127.0.0.3")
    page.click("#blacklist-form button")
    page.wait_for_selector("#blacklist .bnode[data-host='127.0.0.3']")
    assert "127.0.0.3" in get_json(url, "/disco/ctrl/get_blacklist")
    browser_page.screenshot("cluster-config")
    page.goto(url + "/")
    page.wait_for_selector(".nodebox.blacklisted[data-host='127.0.0.3']")
    browser_page.screenshot("cluster-overview-blacklisted")
