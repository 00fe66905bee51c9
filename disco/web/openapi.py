"""The OpenAPI 3.0 description of the master's REST API (DISCO.md §3), served at /openapi.json.

Pure data (layer 0): no aiohttp, so tests and tools can build it without a master.
"""
from __future__ import annotations

from typing import Any

JSON = "application/json"
TEXT = "text/plain"

NAME_PATTERN = r"^[A-Za-z0-9_\-@:]{1,511}$"

SCHEMAS: dict[str, Any] = {
    "JobName": {"type": "string", "description": "prefix@<hex MegaSecs>:<hex Secs>:<hex MicroSecs>",
                "example": "WordCount@57f:ea20f:9fd7f"},
    "JobStatus": {"type": "string", "enum": ["active", "dead", "ready", "initializing"]},
    "Timestamp": {"type": "string", "description": "master local time, YYYY/MM/DD HH:MM:SS",
                  "example": "2016/12/17 10:20:30"},
    "Event": {"type": "array", "minItems": 3, "maxItems": 3, "items": {"type": "string"},
              "description": "[timestamp, host, message]"},
    "JobListEntry": {"type": "array", "minItems": 3,
                     "items": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
                     "description": "[start_unix_secs, status, name]"},
    "StageRow": {"type": "array", "minItems": 6, "maxItems": 6,
                 "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                 "description": "[stage, pending, waiting, running, done, failed]"},
    "JobInfo": {
        "type": "object",
        "required": ["timestamp", "active", "pipeline", "results", "inputs", "worker", "hosts", "owner"],
        "properties": {
            "timestamp": {"$ref": "#/components/schemas/Timestamp"},
            "active": {"$ref": "#/components/schemas/JobStatus"},
            "pipeline": {"type": "array", "items": {"$ref": "#/components/schemas/StageRow"}},
            "results": {"type": "array", "items": {}, "description": "result URLs (flattened)"},
            "inputs": {"type": "array", "items": {}},
            "worker": {"type": "string"},
            "hosts": {"type": "array", "items": {"type": "string"}},
            "owner": {"type": "string"},
        },
    },
    "NodeStatus": {
        "type": "object",
        "properties": {
            "job_ok": {"type": "integer"}, "data_error": {"type": "integer"}, "error": {"type": "integer"},
            "max_workers": {"type": "integer"}, "connected": {"type": "boolean"},
            "blacklisted": {"type": "boolean"},
            "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/JobName"},
                      "description": "one job name per running task (only if running)"},
            "diskfree": {"type": "integer", "description": "KB free for DDFS"},
            "diskused": {"type": "integer", "description": "KB used by DDFS"},
        },
    },
    "HostList": {"type": "array", "items": {"type": "string"}},
    "ConfigTable": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                               "items": {"type": "string"}},
                    "description": "[[host_or_range, max_workers], ...], e.g. [[\"node01:10\", \"4\"]]"},
    "Settings": {"type": "object", "properties": {
        "max_failure_rate": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
        "accept_new_jobs": {"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["0", "1"]}]}}},
    "SettingRow": {"type": "object", "required": ["name", "type", "default", "help", "disco"],
                   "properties": {"name": {"type": "string"}, "type": {"type": "string"},
                                  "default": {"type": "string"}, "help": {"type": "string"},
                                  "disco": {"type": "boolean"}, "value": {}}},
    "ReplicaList": {"type": "array", "items": {"type": "string"}, "description": "replicas of one item"},
    "UrlLists": {"type": "array", "items": {"$ref": "#/components/schemas/ReplicaList"}},
    "ResultsRequest": {"type": "array", "minItems": 2, "maxItems": 2,
                       "items": {"oneOf": [{"type": "integer", "minimum": 0},
                                           {"type": "array", "items": {"type": "string"}}]},
                       "description": "[timeout_ms, [jobname, ...]]"},
    "ResultsReply": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2},
                     "description": "[[name, [status, results]], ...]; status 'unknown job'|'ready'|'active'|'dead'"},
    "Tag": {
        "type": "object",
        "required": ["version", "id", "last-modified", "urls"],
        "properties": {
            "version": {"type": "integer"}, "id": {"type": "string", "description": "<tag>$<timestamp>"},
            "last-modified": {"$ref": "#/components/schemas/Timestamp"},
            "urls": {"$ref": "#/components/schemas/UrlLists"},
            "user-data": {"type": "object", "additionalProperties": True},
        },
        "description": "tokens are never included",
    },
    "GCStats": {"oneOf": [
        {"type": "string", "enum": [""]},
        {"type": "object", "properties": {
            "timestamp": {},
            "stats": {"type": "object", "additionalProperties": {
                "type": "array", "items": {"type": "integer"},
                "description": "[files, bytes]"}}}}]},
    "JobTasks": {"type": "object", "required": ["job", "status", "tasks"], "properties": {
        "job": {"type": "string"}, "status": {"type": "string"},
        "start": {"type": "number", "nullable": True}, "end": {"type": "number", "nullable": True},
        "tasks": {"type": "array", "items": {"type": "object", "properties": {
            "task": {"type": "integer"}, "stage": {"type": "string"}, "group": {"type": "array", "items": {}},
            "host": {"type": "string", "nullable": True},
            "start": {"type": "number", "nullable": True, "description": "Unix seconds"},
            "end": {"type": "number", "nullable": True},
            "status": {"type": "string", "enum": ["queued", "waiting", "running", "blocked", "done", "dropped"]},
            "attempts": {"type": "integer"}, "failures": {"type": "integer"}}}}}},
    "CounterTable": {"type": "object", "description": "{group: {name: integer}}; group 'disco' holds the "
                     "engine's counters, 'disco:labels' per-label output counters (docs/counters.md)",
                     "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}}},
    "Skew": {"type": "object", "properties": {
        "max": {"type": "integer"}, "max_task": {"type": "integer"}, "median": {"type": "number"},
        "ratio": {"type": "number", "nullable": True}}},
    "JobCounters": {"type": "object", "required": ["job", "status", "tasks", "totals", "user", "stages"],
                    "properties": {
        "job": {"type": "string"}, "status": {"type": "string"},
        "tasks": {"type": "integer", "description": "tasks whose counters are counted (finished ones)"},
        "totals": {"$ref": "#/components/schemas/CounterTable"},
        "user": {"$ref": "#/components/schemas/CounterTable"},
        "stages": {"type": "array", "items": {"type": "object", "properties": {
            "stage": {"type": "string"}, "tasks": {"type": "integer"},
            "counters": {"$ref": "#/components/schemas/CounterTable"},
            "user": {"$ref": "#/components/schemas/CounterTable"},
            "shuffle_bytes": {"type": "integer", "description": "bytes the stage wrote for the next one"},
            "skew": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Skew"},
                     "description": "largest vs median task per engine counter"}}}},
        "per_task": {"type": "array", "description": "with tasks=1", "items": {"type": "object", "properties": {
            "task": {"type": "integer"}, "stage": {"type": "string"},
            "host": {"type": "string", "nullable": True},
            "counters": {"$ref": "#/components/schemas/CounterTable"}}}}}},
    "Message": {"description": "an error or status message (JSON string or text)"},
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: dict[str, Any] | None = None, description: str = "OK", media: str = JSON,
        status: str = "200") -> dict[str, Any]:
    content = {media: {"schema": schema if schema is not None else {}}}
    return {status: {"description": description, "content": content}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "bad request (malformed body or parameter)", 401: "incorrect or missing token",
            403: "forbidden / invalid request", 404: "not found", 413: "job pack too large",
            503: "temporary server error, try again"}
    return {str(code): {"description": text[code],
                        "content": {JSON: {"schema": _ref("Message")}, TEXT: {"schema": {"type": "string"}}}}
            for code in codes}


def _query(name: str, schema: dict[str, Any], required: bool = False, description: str = "") -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _path(name: str, schema: dict[str, Any] | None = None, description: str = "") -> dict:
    return {"name": name, "in": "path", "required": True,
            "schema": schema or {"type": "string"}, "description": description}


def _body(schema: dict[str, Any], media: str = JSON, description: str = "") -> dict:
    return {"required": True, "description": description, "content": {media: {"schema": schema}}}


JOB_QUERY = _query("name", _ref("JobName"), required=True, description="job name")


def _op(summary: str, responses: dict, *, tags: list[str], parameters: list | None = None,
        body: dict | None = None, operation_id: str, security: list | None = None) -> dict:
    op: dict[str, Any] = {"summary": summary, "operationId": operation_id, "tags": tags,
                          "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = body
    if security is not None:
        op["security"] = security
    return op


def _disco_paths() -> dict[str, Any]:
    t = ["disco"]
    ctrl = "/disco/ctrl/"
    job_string = _body(_ref("JobName"), description='the job name as a JSON string: "name"')
    host_string = _body({"type": "string"}, description='the host as a JSON string: "host"')
    paths: dict[str, Any] = {
        "/disco/version": {"get": _op("Master version", _ok({"type": "string"}), tags=t,
                                      operation_id="version")},
        "/disco/job/new": {"post": _op(
            "Submit a job pack", {**_ok({"type": "array", "items": {"type": "string"},
                                         "description": '["ok", jobname] or ["error", message]'}),
                                  **_errors(400, 403, 413)},
            tags=t, body=_body({"type": "string", "format": "binary"}, media="application/octet-stream",
                               description="the binary job pack"), operation_id="job_new")},
        ctrl + "load_config_table": {"get": _op("Node table (also re-applies it)", _ok(_ref("ConfigTable")),
                                                tags=t, operation_id="load_config_table")},
        ctrl + "joblist": {"get": _op("Jobs, newest first",
                                      _ok({"type": "array", "items": _ref("JobListEntry")}),
                                      tags=t, operation_id="joblist")},
        ctrl + "jobinfo": {"get": _op("One job's status, stages, inputs, results",
                                      {**_ok(_ref("JobInfo")), **_errors(400, 404)},
                                      tags=t, parameters=[JOB_QUERY], operation_id="jobinfo")},
        ctrl + "parameters": {"get": _op("The raw job pack", {
            **_ok({"type": "string", "format": "binary"}, media="application/octet-stream"), **_errors(400, 404)},
            tags=t, parameters=[JOB_QUERY], operation_id="parameters")},
        ctrl + "rawevents": {"get": _op(
            "The job's event file: one JSON [timestamp, host, message] per line (Range supported)",
            {**_ok({"type": "string"}, media=TEXT), **_ok({"type": "string"}, "Partial content", TEXT, "206"),
             **_errors(400, 404)},
            tags=t, parameters=[JOB_QUERY, {"name": "Range", "in": "header", "required": False,
                                            "schema": {"type": "string", "pattern": r"^bytes=\d+-\d*$"}}],
            operation_id="rawevents")},
        ctrl + "jobevents": {"get": _op(
            "Events, newest first; filter = case-insensitive search",
            {**_ok({"type": "array", "items": _ref("Event")}), **_errors(400, 404)},
            tags=t, parameters=[JOB_QUERY,
                                _query("num", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10}),
                                _query("filter", {"type": "string", "maxLength": 200})],
            operation_id="jobevents")},
        ctrl + "nodeinfo": {"get": _op("Every node's status",
                                       _ok({"type": "object", "additionalProperties": _ref("NodeStatus")}),
                                       tags=t, operation_id="nodeinfo")},
        ctrl + "get_blacklist": {"get": _op("Disco blacklist", _ok(_ref("HostList")), tags=t,
                                            operation_id="get_blacklist")},
        ctrl + "get_gc_blacklist": {"get": _op("DDFS blacklist", _ok(_ref("HostList")), tags=t,
                                               operation_id="get_gc_blacklist")},
        ctrl + "get_settings": {"get": _op("Runtime settings", _ok(_ref("Settings")), tags=t,
                                           operation_id="get_settings")},
        ctrl + "settings": {"get": _op("Every setting: type, default, help, the master's value",
                                       _ok({"type": "array", "items": _ref("SettingRow")}),
                                       tags=t, operation_id="settings_table")},
        ctrl + "get_stageresults": {"get": _op(
            "Outputs of a finished stage", {**_ok(_ref("UrlLists")), **_errors(400, 404)}, tags=t,
            parameters=[JOB_QUERY, _query("stage", {"type": "string"}, required=True)],
            operation_id="get_stageresults")},
        ctrl + "get_results": {"post": _op(
            "Wait up to timeout_ms for any of the jobs to finish; statuses and results",
            {**_ok(_ref("ResultsReply")), **_errors(400)}, tags=t, body=_body(_ref("ResultsRequest")),
            operation_id="get_results")},
        ctrl + "save_config_table": {"post": _op(
            "Replace the node table (applied to the running cluster)",
            {**_ok({"type": "string"}, '"table saved!"'), **_errors(400)}, tags=t,
            body=_body(_ref("ConfigTable")), operation_id="save_config_table")},
        ctrl + "save_settings": {"post": _op(
            "Save runtime settings (string values)", {**_ok({"type": "string"}), **_errors(400)}, tags=t,
            body=_body({"type": "object", "properties": {
                "max_failure_rate": {"type": "string", "pattern": r"^\d+$"},
                "accept_new_jobs": {"type": "string", "enum": ["0", "1"]}}}),
            operation_id="save_settings")},
    }
    for op, summary in [("kill_job", "Kill a job"), ("purge_job", "Kill a job and delete all its data"),
                        ("clean_job", "Kill a job and delete its master-side data")]:
        paths[ctrl + op] = {"post": _op(summary, {**_ok({"type": "string"}), **_errors(400, 404)}, tags=t,
                                        body=job_string, operation_id=op)}
    for op, summary in [("blacklist", "Add a host to the Disco blacklist"),
                        ("whitelist", "Remove a host from the Disco blacklist"),
                        ("gc_blacklist", "Add a host to the DDFS blacklist"),
                        ("gc_whitelist", "Remove a host from the DDFS blacklist")]:
        paths[ctrl + op] = {"post": _op(summary, {**_ok({"type": "string"}), **_errors(400, 404)}, tags=t,
                                        body=host_string, operation_id=op)}
    paths[ctrl + "jobtasks"] = {"get": _op(
        "Our addition: every task of a job with its latest attempt (for the UI's timeline)",
        {**_ok(_ref("JobTasks")), **_errors(400, 404)}, tags=t, parameters=[JOB_QUERY],
        operation_id="jobtasks")}
    paths[ctrl + "counters"] = {"get": _op(
        "Our addition: the job's counters per stage and in total (docs/counters.md); while it runs, "
        "those of its finished tasks",
        {**_ok(_ref("JobCounters")), **_errors(400, 404)}, tags=t,
        parameters=[JOB_QUERY, _query("tasks", {"type": "string", "enum": ["0", "1"]},
                                      description="1: add each task's counters")],
        operation_id="job_counters")}
    paths["/disco/{path}"] = {"get": _op(
        "A file under DISCO_DATA (task outputs, index files) served by the master host; path may contain '/'",
        {**_ok({"type": "string", "format": "binary"}, media="application/octet-stream"), **_errors(403, 404)},
        tags=t, parameters=[_path("path")], operation_id="disco_data_file")}
    return paths


def _ddfs_paths() -> dict[str, Any]:
    t = ["ddfs"]
    tag = _path("tag", {"type": "string", "pattern": NAME_PATTERN})
    attr = _path("attr", {"type": "string"}, "ddfs:urls, ddfs:read-token, ddfs:write-token or a user attribute")
    token_errors = _errors(401, 403, 404, 503)
    tag_urls = _ok({"type": "array", "items": {"type": "string"}}, "the tag's replica URLs")
    auth = [{}, {"ddfsToken": []}]
    return {
        "/ddfs/new_blob/{name}": {"get": _op(
            "PUT URLs for a new blob's replicas",
            {**_ok({"type": "array", "items": {"type": "string"}}), **_errors(403)}, tags=t,
            parameters=[_path("name", {"type": "string", "pattern": NAME_PATTERN}),
                        _query("replicas", {"type": "integer", "minimum": 1}),
                        _query("exclude", {"type": "string"}, description="comma-separated hosts"),
                        _query("include", {"type": "string"}, description="comma-separated hosts")],
            operation_id="new_blob")},
        "/ddfs/{blob}": {"put": {
            **_op("Upload a blob replica (node PUT server on DDFS_PUT_PORT, not the master)",
                  {**_ok({"type": "string"}, "the blob's disco:// URL", status="201"), **_errors(503)},
                  tags=t, parameters=[_path("blob", description="<name>$<timestamp>")],
                  body=_body({"type": "string", "format": "binary"}, media="application/octet-stream"),
                  operation_id="put_blob"),
            "servers": [{"url": "http://{node}:{port}", "variables": {
                "node": {"default": "localhost"}, "port": {"default": "8990"}}}]}},
        "/ddfs/vol{volume}/{path}": {"get": _op(
            "A blob or tag file under DDFS_DATA (master and every node on DISCO_PORT)",
            {**_ok({"type": "string", "format": "binary"}, media="application/octet-stream"),
             **_errors(403, 404, 503)},
            tags=t, parameters=[_path("volume"), _path("path")], operation_id="ddfs_data_file")},
        "/ddfs/tags": {"get": _op("All live tag names", _ok(_ref("HostList")), tags=t, operation_id="tags")},
        "/ddfs/tags/{prefix}": {"get": _op(
            "Live tag names with a prefix", {**_ok(_ref("HostList")), **_errors(403)}, tags=t,
            parameters=[_path("prefix")], operation_id="tags_prefix")},
        "/ddfs/tag/{tag}": {
            "get": _op("A tag object (tokens never shown)", {**_ok(_ref("Tag")), **token_errors}, tags=t,
                       parameters=[tag], operation_id="get_tag", security=auth),
            "post": _op("Append replica lists (creates the tag)", {**tag_urls, **token_errors}, tags=t,
                        parameters=[tag, _query("update", {"type": "integer", "enum": [0, 1]}),
                                    _query("delayed", {"type": "integer", "enum": [0, 1]})],
                        body=_body(_ref("UrlLists")), operation_id="post_tag", security=auth),
            "put": _op("Replace the tag's URLs", {**tag_urls, **token_errors}, tags=t, parameters=[tag],
                       body=_body(_ref("UrlLists")), operation_id="put_tag", security=auth),
            "delete": _op("Delete a tag", {**_ok({"type": "string"}, '"deleted"'), **token_errors}, tags=t,
                          parameters=[tag], operation_id="delete_tag", security=auth)},
        "/ddfs/tag/{tag}/{attr}": {
            "get": _op("One attribute", {**_ok({}), **token_errors}, tags=t, parameters=[tag, attr],
                       operation_id="get_tag_attr", security=auth),
            "put": _op("Set an attribute (or a token)", {**tag_urls, **token_errors}, tags=t,
                       parameters=[tag, attr], body=_body({}), operation_id="put_tag_attr", security=auth),
            "delete": _op("Delete an attribute", {**_ok({"type": "string"}, '"deleted"'), **token_errors},
                          tags=t, parameters=[tag, attr], operation_id="delete_tag_attr", security=auth)},
        "/ddfs/ctrl/gc_stats": {"get": _op("Last GC run's statistics", _ok(_ref("GCStats")), tags=t,
                                           operation_id="gc_stats")},
        "/ddfs/ctrl/gc_status": {"get": _op('GC phase, or "" when not running', _ok({"type": "string"}),
                                            tags=t, operation_id="gc_status")},
        "/ddfs/ctrl/gc_start": {"get": _op("Start a GC run", _ok({"type": "string"}), tags=t,
                                           operation_id="gc_start")},
        "/ddfs/ctrl/safe_gc_blacklist": {"get": _op(
            "DDFS-blacklisted hosts whose data is fully re-replicated", _ok(_ref("HostList")), tags=t,
            operation_id="safe_gc_blacklist")},
        "/ddfs/ctrl/hosted_tags": {"post": _op(
            "Tags with replicas on a host", {**_ok(_ref("HostList")), **_errors(400, 403)}, tags=t,
            body=_body({"type": "string"}, description='"host"'), operation_id="hosted_tags")},
    }


def build_openapi(version: str, extra_paths: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI document; `extra_paths` adds endpoints beyond Disco's (e.g. the task list)."""
    paths = {**_disco_paths(), **_ddfs_paths(), **(extra_paths or {})}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Disco master REST API", "version": version,
                 "description": "Disco 0.5.4's /disco/ and /ddfs/ endpoints (wire-compatible). "
                                "Every page of the status UI is built on these endpoints."},
        "servers": [{"url": "/"}],
        "tags": [{"name": "disco", "description": "jobs, nodes, configuration"},
                 {"name": "ddfs", "description": "the distributed file system"}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"ddfsToken": {
                "type": "http", "scheme": "basic",
                "description": 'Authorization: Basic base64("token:<TOKEN>")'},
                "clusterToken": {
                    "type": "http", "scheme": "bearer",
                    "description": "Only on a cluster with a secret (docs/security.md): "
                                   "Authorization: Bearer <client token>, or X-Disco-Auth "
                                   "beside a DDFS token, or the /_secret/<token>/ URL prefix; "
                                   "every endpoint answers 401 without it."}},
        },
    }
