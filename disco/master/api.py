"""REST handlers of ``/disco/...`` (DISCO.md §3.1), plus our snapshot API and ``/metrics``.

Layer 2: parse the request, call the `Master`, serialise Disco's JSON shape. Malformed bodies get
a 400 with a message (`RequestError`), unknown jobs a 404 (`NotFound`), never a 500: handlers
raise, `disco.httperrors.render_errors` answers. Our additions:

* ``GET /disco/ctrl/jobtasks?name=J`` -> ``{"job": J, "status": s, "start": t, "end": t|null,
  "tasks": [{"task": id, "stage": s, "group": [label, host|null], "host": h|null,
  "start": t|null, "end": t|null, "status": "queued"|"waiting"|"running"|"blocked"|"done"|"dropped",
  "attempts": n, "failures": n}, ...]}`` (times are Unix seconds), for a timeline view;
* ``jobinfo`` of a dead job has ``"reason"``: which task failed, on which node, and the
  error (the worker's traceback), or who killed it;
* ``GET /disco/ctrl/counters?name=J[&tasks=1]``: the job's counters per stage and in total
  (docs/counters.md);
* ``GET /metrics``: Prometheus text (jobs by status, tasks running/queued, task seconds, failures,
  each job's counters).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from aiohttp import web

from disco import __version__
from disco.error import JobPackError, NotFound, RequestError
from disco.master import counters
from disco.master.events import format_timestamp
from disco.settings_table import rows as settings_rows
from disco.serving import serve_file

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


def reply(value: Any) -> web.Response:
    return web.json_response(value, dumps=json.dumps)


def master_of(request: web.Request):
    return request.app["master"]


async def json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise RequestError("request body is not valid JSON") from None


async def jobname_body(request: web.Request) -> str:
    name = await json_body(request)
    if not isinstance(name, str):
        raise RequestError("expected a JSON string: the job name")
    return name


def known_job(request: web.Request, name: str | None = None):
    name = request.query.get("name", "") if name is None else name
    entry = master_of(request).jobs.get(name)
    if entry is None:
        raise NotFound(f"unknown job {name!r}")
    return entry


# ---- jobs ------------------------------------------------------------------------------------

@routes.get("/disco/version")
async def version(request: web.Request) -> web.Response:
    return reply(__version__)


@routes.post("/disco/job/{anything:.*}")
async def new_job(request: web.Request) -> web.Response:
    master = master_of(request)
    if not master.runtime["accept_new_jobs"]:
        return web.Response(status=403, text="Master is not accepting new jobs")
    limit = master.config.disco_jobpack_max
    if request.content_length is not None and request.content_length > limit:
        return web.Response(status=413, text="Job packet too large")
    body = await read_body_up_to(request, limit)
    if body is None:
        return web.Response(status=413, text="Job packet too large")
    try:
        name = await master.submit(body)
    except JobPackError as exc:
        log.info("job submission refused: %s", exc)
        return reply(["error", f"Job failed to start: {exc}"])
    return reply(["ok", name])


async def read_body_up_to(request: web.Request, limit: int) -> bytes | None:
    """The whole request body, or None once it grows past `limit` bytes.

    `StreamReader.read(n)` returns what has arrived so far, so a large job pack must be
    read in a loop until EOF.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 20):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@routes.get("/internal/node/jobs")
async def node_jobs(request: web.Request) -> web.Response:
    """``{"active": [job...], "purged": [job...]}`` for the nodes' temp GC (ours, internal):
    purged jobs are remembered for DISCO_PURGED_KEEP seconds (Disco: 24 h, in memory)."""
    master = master_of(request)
    cutoff = time.time() - master.config.disco_purged_keep
    for name in [n for n, at in master.purged.items() if at < cutoff]:
        del master.purged[name]
    active = [e.name for e in master.jobs.values() if e.status == "active"]
    return reply({"active": active, "purged": sorted(master.purged)})


@routes.get("/disco/ctrl/joblist")
async def joblist(request: web.Request) -> web.Response:
    jobs = sorted(master_of(request).jobs.values(), key=lambda e: e.record["start"], reverse=True)
    return reply([[int(e.record["start"]), e.status, e.name] for e in jobs])


@routes.get("/disco/ctrl/jobinfo")
async def jobinfo(request: web.Request) -> web.Response:
    entry = known_job(request)
    record, coordinator = entry.record, entry.coordinator
    live = coordinator is not None and entry.status == "active"
    return reply({"timestamp": format_timestamp(record["start"]), "active": entry.status,
                  "pipeline": coordinator.stage_counts() if live else record["pipeline"],
                  "results": [u for urls in record["results"] or [] for u in urls],
                  "inputs": record["inputs"] or [], "worker": record["worker"],
                  "hosts": coordinator.running_hosts() if live else [],
                  "owner": record["owner"], **_failure(record)})


def _failure(record: dict) -> dict:
    """Our addition to jobinfo: why a dead job ended (stage:task, node, the error)."""
    return {"reason": record.get("reason") or ""} if record["status"] == "dead" else {}


@routes.get("/disco/ctrl/parameters")
async def parameters(request: web.Request) -> web.StreamResponse:
    entry = known_job(request)
    return web.FileResponse(master_of(request).jobfile(entry.name))


@routes.get("/disco/ctrl/rawevents")
async def rawevents(request: web.Request) -> web.StreamResponse:
    entry = known_job(request)
    events = master_of(request).events
    await events.flush_async(entry.name)
    return await serve_file(request, events.job_dir(entry.name), "events")


@routes.get("/disco/ctrl/jobevents")
async def jobevents(request: web.Request) -> web.Response:
    entry = known_job(request)
    try:
        num = min(int(request.query.get("num", "10")), 1000)
    except ValueError:
        raise RequestError("num must be an integer") from None
    found = await master_of(request).events.read_async(entry.name, num,
                                                       request.query.get("filter", ""))
    return web.Response(text=json.dumps(found), content_type="text/plain")


@routes.post("/disco/ctrl/get_results")
async def get_results(request: web.Request) -> web.Response:
    body = await json_body(request)
    if (not isinstance(body, list) or len(body) != 2 or not isinstance(body[0], (int, float))
            or not isinstance(body[1], list) or not all(isinstance(n, str) for n in body[1])):
        raise RequestError("expected [timeout_ms, [jobname, ...]]")
    master = master_of(request)
    await master.wait_any(body[1], body[0] / 1000.0)
    answers = []
    for name in body[1]:
        entry = master.jobs.get(name)
        if entry is None:
            answers.append([name, ["unknown job", []]])
        else:
            results = entry.record["results"] if entry.status == "ready" else []
            answers.append([name, [entry.status, results or []]])
    return reply(answers)


@routes.get("/disco/ctrl/get_stageresults")
async def get_stageresults(request: web.Request) -> web.Response:
    entry = known_job(request)
    stage = request.query.get("stage", "")
    results = (entry.record.get("stage_results") or {}).get(stage)
    if results is None:
        raise NotFound(f"stage {stage!r} of {entry.name} is not finished")
    return reply(results)


@routes.post("/disco/ctrl/kill_job")
async def kill_job(request: web.Request) -> web.Response:
    entry = known_job(request, await jobname_body(request))
    await master_of(request).kill_and_wait(entry.name)
    return reply("")


@routes.post("/disco/ctrl/purge_job")
async def purge_job(request: web.Request) -> web.Response:
    entry = known_job(request, await jobname_body(request))
    await master_of(request).purge(entry.name)
    return reply("")


@routes.post("/disco/ctrl/clean_job")
async def clean_job(request: web.Request) -> web.Response:
    entry = known_job(request, await jobname_body(request))
    await master_of(request).purge(entry.name, purge_nodes=False)
    return reply("")


@routes.get("/disco/ctrl/jobtasks")
async def jobtasks(request: web.Request) -> web.Response:
    entry = known_job(request)
    if entry.coordinator is not None:
        tasks = [{"task": t.id, "stage": t.stage, "group": [t.group[0], t.group[1]],
                  "host": t.host, "start": t.start, "end": t.end, "status": t.status,
                  "attempts": t.attempt, "failures": t.failures}
                 for t in entry.coordinator.tasks.values()]
    else:
        tasks = []
        for row in await master_of(request).store.load_tasks(entry.name):
            label, _, host = row["grp"].partition(",")
            tasks.append({"task": row["task"], "stage": row["stage"],
                          "group": [int(label) if label.lstrip("-").isdigit() else label,
                                    host or None],
                          "host": row["host"], "start": row["start"], "end": row["end"],
                          "status": row["status"], "attempts": row["attempts"],
                          "failures": row["failures"]})
    return reply({"job": entry.name, "status": entry.status, "start": entry.record["start"],
                  "end": entry.record["end"], "tasks": tasks})


@routes.get("/disco/ctrl/counters")
async def job_counters(request: web.Request) -> web.Response:
    """Our addition: the job's counters per stage and in total (docs/counters.md);
    ``tasks=1`` adds each task's."""
    entry = known_job(request)
    per_task = request.query.get("tasks", "") in ("1", "true", "yes")
    return reply(await counters_of(master_of(request), entry, per_task))


#: job -> (version, summary) of the last counters summary built (see `counters_of`)
_summaries: dict[str, tuple] = {}


async def counters_of(master, entry, per_task: bool = False) -> dict:
    """The counters summary of a job, from memory or (a job the master did not resume) the
    store."""
    coordinator = entry.coordinator
    if coordinator is not None:
        # a page polls this every 2 s: sum a big job again only when a task's counters changed
        version = (entry.status, per_task, coordinator.counters_version)
        cached = _summaries.get(entry.name)
        if cached is not None and cached[0] == version:
            return cached[1]
        tasks = counters.from_coordinator(coordinator)
        stages = [stage.name for stage in coordinator.stages]
        summary = counters.summarize(entry.name, entry.status, stages, tasks, per_task)
        if len(_summaries) >= 64:
            _summaries.clear()
        _summaries[entry.name] = (version, summary)
        return summary
    else:
        tasks = counters.from_rows(await master.store.load_tasks(entry.name))
        stages = [row[0] for row in entry.record.get("pipeline") or []]
    return counters.summarize(entry.name, entry.status, stages, tasks, per_task)


# ---- nodes and configuration ---------------------------------------------------------------

@routes.get("/disco/ctrl/nodeinfo")
async def nodeinfo(request: web.Request) -> web.Response:
    return reply({n.host: n.info() for n in master_of(request).cluster.nodes()})


@routes.get("/disco/ctrl/load_config_table")
async def load_config_table(request: web.Request) -> web.Response:
    app = request.app
    app["apply_config"]()
    return reply(app["config_file"].raw_hosts())


@routes.post("/disco/ctrl/save_config_table")
async def save_config_table(request: web.Request) -> web.Response:
    body = await json_body(request)
    request.app["config_file"].save_table(body)  # ConfigTableError: a 400 with Disco's text
    request.app["apply_config"]()
    return reply("table saved!")


def _listing(key: str, listed: bool):
    async def handler(request: web.Request) -> web.Response:
        host = await json_body(request)
        if not isinstance(host, str) or not host:
            raise RequestError("expected a JSON string: the host name")
        request.app["config_file"].set_listed(key, host, listed)
        request.app["apply_config"]()
        return reply("")
    return handler


routes.post("/disco/ctrl/blacklist")(_listing("blacklist", True))
routes.post("/disco/ctrl/whitelist")(_listing("blacklist", False))
routes.post("/disco/ctrl/gc_blacklist")(_listing("gc_blacklist", True))
routes.post("/disco/ctrl/gc_whitelist")(_listing("gc_blacklist", False))


@routes.get("/disco/ctrl/get_blacklist")
async def get_blacklist(request: web.Request) -> web.Response:
    config = await asyncio.to_thread(request.app["config_file"].load)
    return reply(config["blacklist"])


@routes.get("/disco/ctrl/get_gc_blacklist")
async def get_gc_blacklist(request: web.Request) -> web.Response:
    config = await asyncio.to_thread(request.app["config_file"].load)
    return reply(config["gc_blacklist"])


@routes.get("/disco/ctrl/settings")
async def settings_table(request: web.Request) -> web.Response:
    """Ours: every setting of the table with its type, default, help and the master's value
    (secrets masked), for the UI's settings page."""
    return reply(settings_rows(master_of(request).config))


@routes.get("/disco/ctrl/get_settings")
async def get_settings(request: web.Request) -> web.Response:
    return reply(dict(master_of(request).runtime))


@routes.post("/disco/ctrl/save_settings")
async def save_settings(request: web.Request) -> web.Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise RequestError("expected a JSON object of settings")
    values: dict[str, int] = {}
    for key, value in body.items():
        if key not in ("max_failure_rate", "accept_new_jobs"):
            raise RequestError(f"unknown setting {key!r}")
        try:
            values[key] = int(str(value))
        except ValueError:
            raise RequestError(f"setting {key!r} must be an integer") from None
    master_of(request).set_runtime(values)
    return reply("Settings saved")


@routes.route("*", "/disco/ctrl/{op}")
async def unknown_ctrl(request: web.Request) -> web.Response:
    raise NotFound(f"unknown operation {request.match_info['op']!r}")


@routes.get("/disco/{path:.+}")
async def disco_file(request: web.Request) -> web.StreamResponse:
    """Task outputs of the co-located node: ``DISCO_DATA/<path>``."""
    root = master_of(request).config.disco_data
    return await serve_file(request, root, request.match_info["path"])


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    master = master_of(request)
    lines = ["# TYPE disco_jobs gauge"]
    counts: dict[str, int] = {"active": 0, "ready": 0, "dead": 0}
    for entry in master.jobs.values():
        counts[entry.status] = counts.get(entry.status, 0) + 1
    lines += [f'disco_jobs{{status="{s}"}} {n}' for s, n in sorted(counts.items())]
    running = sum(len(n.running) for n in master.cluster.nodes())
    queued = sum(len(q.tasks) for q in master.scheduler.jobs.values())
    lines += ["# TYPE disco_tasks_running gauge", f"disco_tasks_running {running}",
              "# TYPE disco_tasks_queued gauge", f"disco_tasks_queued {queued}",
              "# TYPE disco_tasks_done_total counter",
              f"disco_tasks_done_total {master.metrics['tasks_done']}",
              "# TYPE disco_task_failures_total counter",
              f"disco_task_failures_total {master.metrics['tasks_failed']}",
              "# TYPE disco_task_seconds_total counter",
              f"disco_task_seconds_total {master.metrics['task_seconds']:.3f}",
              "# TYPE disco_nodes_connected gauge",
              f"disco_nodes_connected {len(master.cluster.connected_hosts())}"]
    lines += counters.metric_lines(_job_totals(master))
    lines.append(f"# generated {time.time():.0f}")
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


def _job_totals(master) -> list:
    """Each job in memory with its summed counters (a job not resumed after a restart is
    left out: its rows are in the store, and a scrape must not read them all)."""
    jobs = []
    for entry in master.jobs.values():
        if entry.coordinator is not None:
            tasks = counters.counted(counters.from_coordinator(entry.coordinator))
            table: dict = {}
            for task in tasks:
                counters.add(table, task.counters)
            if table:
                jobs.append((entry.name, counters.with_derived(table)))
    return sorted(jobs)
