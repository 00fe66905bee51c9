"""The web UI of a cluster with a secret, in Chromium: a page sends the browser to the login
form, the secret logs it in (cookie), and a state-changing action of the UI (saving the
settings) passes the CSRF check because the page's JS sends X-Disco-CSRF (docs/security.md).
"""
from __future__ import annotations

import json
import uuid

import pytest

from disco import auth
from disco.testing.cluster import http_get

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SECRET = "web-secret-" + uuid.uuid4().hex


def test_login_then_save_settings(browser_page, cluster):
    local = cluster(hosts=("127.0.0.2",), settings={"DISCO_SECRET": SECRET})
    page = browser_page.page
    page.goto(local.master_url + "/config.html")
    page.wait_for_url("**/_login?next=/config.html")
    page.fill("input[name=secret]", "not the secret")
    page.click("button[type=submit]")
    assert "Wrong secret" in page.inner_text("main")
    page.fill("input[name=secret]", SECRET)
    page.click("button[type=submit]")
    page.wait_for_url("**/config.html")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["disco_auth"]["httpOnly"] and cookies["disco_auth"]["sameSite"] == "Strict"
    assert SECRET not in json.dumps(list(cookies.values()))
    page.wait_for_selector("#config-rows tr")
    page.fill("#max_failure_rate", "7")
    page.click("#settings-form button[type=submit]")
    page.wait_for_selector("#messages .message.info")
    token = auth.client_token(SECRET)
    settings = json.loads(http_get(f"{local.master_url}/disco/ctrl/get_settings",
                                   headers={"Authorization": f"Bearer {token}"}))
    assert int(settings["max_failure_rate"]) == 7
