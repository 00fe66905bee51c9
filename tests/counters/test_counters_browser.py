"""The job page's counters in Chromium, against a real master and nodes: a running job
shows its finished tasks' counters, a finished job all of them (screenshots under
test-artifacts/counters-*.png)."""
from __future__ import annotations

import pytest

from disco.job import Job
from disco.testing import poll_for
from tests.counters.test_counters import HOSTS, SETTINGS, get_counters

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def held_map(line, params):
    """Count good and bad lines; the task of input `hold_input` waits for the file `hold`."""
    import os
    import time

    from disco.worker import counter
    line = line.decode().strip() if isinstance(line, bytes) else line.strip()
    if line.startswith(params["hold_input"]):
        while not os.path.exists(params["hold"]):
            time.sleep(0.05)
    if "," not in line:
        counter("quality", "malformed")
        return
    counter("quality", "good")
    yield line.split(",")[0], 1


def test_job_page_shows_counters_running_and_finished(browser_page, cluster, tmp_path):
    local = cluster(hosts=HOSTS, workers=2, settings=SETTINGS)
    hold = tmp_path / "go"
    inputs = ["raw://held,1\nbad", "raw://a,1\nb,2\nnope", "raw://c,3\nbroken\nd,4\ne,5"]
    job = Job(master=local.master_url, settings=local.settings).run(
        input=inputs, map=held_map, params={"hold": str(hold), "hold_input": "held"})
    poll_for(lambda: get_counters(local, job.name)["tasks"] == 2 or None, 60,
             message="two of three maps finished")
    page = browser_page.page
    page.goto(f"{local.master_url}/job.html?name={job.name}&refresh=0.5")
    page.wait_for_selector("#user-counters tr[data-counter='malformed'] .value")
    assert "so far" in page.locator("#counters-count").inner_text()
    assert page.locator("#user-counters tr[data-counter='good'] .value").inner_text() == "5"
    assert page.locator("#counter-stages tr[data-stage='map'] .records-in").inner_text() == "7"
    browser_page.screenshot("counters-job-running")
    hold.touch()
    job.wait(timeout=120)
    page.wait_for_selector("#nfo-status.ready", timeout=60_000)
    page.wait_for_function(
        "document.querySelector(\"#user-counters tr[data-counter='good'] .value\")"
        ".textContent === '6'")
    assert page.locator("#user-counters tr[data-counter='malformed'] .value").inner_text() == "3"
    assert page.locator("#counter-stages tr[data-stage='map'] .records-in").inner_text() == "9"
    assert page.locator("#counter-stages tr[data-stage='map'] .records-out").inner_text() == "6"
    assert "\u00d7" in page.locator("#counter-stages tr[data-stage='map'] .skew-ratio").inner_text()
    browser_page.screenshot("counters-job-finished")
