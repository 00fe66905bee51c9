"""Property-based fuzz of the master's REST API from /openapi.json (schemathesis): no 5xx.

Runs against a real master + nodes. Operations that would change the cluster's shape
(config table, settings, blacklists, GC) or that address another server (node PUT) are left out.
"""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip(
    "schemathesis", reason="the API fuzz needs 'schemathesis' (pip install schemathesis)"
)
from hypothesis import HealthCheck, settings  # noqa: E402

EXCLUDED = [
    "save_config_table",
    "save_settings",
    "blacklist",
    "gc_blacklist",
    "whitelist",
    "gc_whitelist",
    "gc_start",
    "put_blob",
    "get_results",
    "kill_job",
    "purge_job",
    "clean_job",
]


@pytest.fixture
def api_schema(shared_cluster):
    return schemathesis.openapi.from_url(shared_cluster.master_url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema").exclude(operation_id=EXCLUDED)


@pytest.mark.timeout(600)
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_rest_api_never_answers_5xx(case):
    response = case.call(timeout=15)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.200} -> "
        f"{response.status_code}: {response.text[:300]}")
