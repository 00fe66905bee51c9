"""The OpenAPI document describes every REST endpoint of DISCO.md §3 and is valid OpenAPI 3."""
from __future__ import annotations

import json
import re

import pytest

from disco.web.openapi import build_openapi

#: (method, path) of every endpoint in DISCO.md §3.
SPEC_ENDPOINTS = [
    ("get", "/disco/version"),
    ("post", "/disco/job/new"),
    *[
        ("get", f"/disco/ctrl/{op}")
        for op in (
            "load_config_table",
            "joblist",
            "jobinfo",
            "parameters",
            "rawevents",
            "jobevents",
            "nodeinfo",
            "get_blacklist",
            "get_gc_blacklist",
            "get_settings",
            "settings",
            "get_stageresults",
        )
    ],
    *[
        ("post", f"/disco/ctrl/{op}")
        for op in (
            "kill_job",
            "purge_job",
            "clean_job",
            "get_results",
            "blacklist",
            "whitelist",
            "gc_blacklist",
            "gc_whitelist",
            "save_config_table",
            "save_settings",
        )
    ],
    ("get", "/disco/{path}"),
    ("get", "/ddfs/new_blob/{name}"),
    ("put", "/ddfs/{blob}"),
    ("get", "/ddfs/vol{volume}/{path}"),
    ("get", "/ddfs/tags"),
    ("get", "/ddfs/tags/{prefix}"),
    *[(m, "/ddfs/tag/{tag}") for m in ("get", "post", "put", "delete")],
    *[(m, "/ddfs/tag/{tag}/{attr}") for m in ("get", "put", "delete")],
    *[
        ("get", f"/ddfs/ctrl/{op}")
        for op in ("gc_stats", "gc_status", "gc_start", "safe_gc_blacklist")
    ],
    ("post", "/ddfs/ctrl/hosted_tags"),
]


@pytest.fixture(scope="module")
def document():
    return build_openapi("0.0-test")


@pytest.mark.timeout(30)
def test_document_is_valid_openapi_3(document):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)
    assert json.loads(json.dumps(document)) == document  # plain JSON, no Python-only values


@pytest.mark.timeout(10)
@pytest.mark.parametrize("method,path", SPEC_ENDPOINTS)
def test_every_spec_endpoint_is_described(document, method, path):
    operation = document["paths"][path][method]
    assert operation["responses"], path
    assert any(code.startswith("2") for code in operation["responses"])
    for response in operation["responses"].values():
        assert response["description"]
        assert "schema" in next(iter(response["content"].values()))
    if method in ("post", "put"):
        assert operation["requestBody"]["content"], path


@pytest.mark.timeout(10)
def test_path_parameters_match_templates(document):
    for path, item in document["paths"].items():
        templated = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            if method == "servers":
                continue
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == templated, (method, path)


@pytest.mark.timeout(10)
def test_operation_ids_unique_and_refs_resolve(document):
    ids = [
        op["operationId"]
        for item in document["paths"].values()
        for m, op in item.items()
        if m != "servers"
    ]
    assert len(ids) == len(set(ids))
    text = json.dumps(document)
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/(\w+)"', text)):
        assert ref in document["components"]["schemas"], ref


@pytest.mark.timeout(10)
def test_tag_schema_has_no_tokens(document):
    tag = document["components"]["schemas"]["Tag"]["properties"]
    assert not [name for name in tag if "token" in name]
