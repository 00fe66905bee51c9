"""A tiny stand-in master serving the documented JSON shapes (DISCO.md §3) from memory.

Used by the web tests that do not need the real master, and to look at the pages:
`python tests/web/fake_master.py [port]`. Jobs follow a precomputed task schedule, so
their pages progress in real time; kill, purge, config and blacklists change the state.
"""
from __future__ import annotations

import json
import random
import sys
import time

from aiohttp import web

import disco.web
from disco import settings_table


def stamp(t: float) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(t))


class FakeJob:
    def __init__(self, name, start, hosts, maps=6, reduces=2, task_seconds=1.0, owner="alice@box",
                 fail=()):
        self.name, self.start, self.owner = name, start, owner
        self.killed_at: float | None = None
        self.purged = False
        self.tasks = []  # (stage, id, attempt, host, begin, end, ok)
        t, task_id = start + 0.5, 0
        for stage, count in (("map", maps), ("reduce", reduces)):
            ends = []
            for i in range(count):
                host = hosts[i % len(hosts)]
                begin = t + (i // len(hosts)) * task_seconds
                attempt = 1
                if task_id in fail:
                    self.tasks.append((stage, task_id, 1, host, begin, begin + task_seconds / 2, False))
                    host = hosts[(i + 1) % len(hosts)]
                    begin += task_seconds
                    attempt = 2
                self.tasks.append((stage, task_id, attempt, host, begin, begin + task_seconds, True))
                ends.append(begin + task_seconds)
                task_id += 1
            t = max(ends) + 0.2
        self.end = t

    def status(self, now):
        if self.killed_at is not None and self.killed_at < self.end:
            return "dead"
        return "ready" if now >= self.end else "active"

    def now(self, now):
        return min(now, self.killed_at) if self.killed_at is not None else now

    def events(self, now):
        now = self.now(now)
        out = [(self.start, "master", 'New job initialized!'), (self.start, "master", f'Created job "{self.name}"')]
        for stage, tid, _attempt, host, begin, end, ok in self.tasks:
            if begin <= now:
                out.append((begin, "master", f"{stage}:{tid} assigned to {host}"))
                out.append((begin + 0.01, host, f"MSG: [{stage}:{tid}] processing input <script>alert(1)</script>"))
            if end <= now:
                out.append((end, host, f"DONE: [{stage}:{tid}] Task finished in {end - begin:.1f}s" if ok else
                            f"Task {stage}:{tid} failed on {host}, 1th failures so far. Sleeping 1 seconds before retrying."))
        if self.killed_at is not None and self.killed_at < self.end:
            out.append((self.killed_at, "master", "WARN: Job killed"))
        elif now >= self.end:
            out.append((self.end, "master", f"READY: Job done in {self.end - self.start:.1f}s"))
        out.sort(key=lambda e: e[0])
        return [[stamp(t), h, m] for t, h, m in out]

    def pipeline(self, now):
        now, rows = self.now(now), []
        for stage in ("map", "reduce"):
            tasks = [t for t in self.tasks if t[0] == stage]
            running = sum(1 for t in tasks if t[4] <= now < t[5])
            done = sum(1 for t in tasks if t[5] <= now and t[6])
            failed = sum(1 for t in tasks if t[5] <= now and not t[6])
            total = len({t[1] for t in tasks})
            rows.append([stage, 0, max(0, total - running - done), running, done, failed])
        return rows

    def running(self, now):
        if self.status(now) != "active":
            return []
        return [t for t in self.tasks if t[4] <= now < t[5]]

    def results(self, now):
        if self.status(now) != "ready":
            return []
        hosts = sorted({t[3] for t in self.tasks if t[0] == "reduce"})
        return [[f"dir://{h}/disco/{h}/ab/{self.name}/.disco/reduce-{i}.results"] for i, h in enumerate(hosts)]


def reply(value):
    """An async handler answering the JSON of `value()`."""
    async def handler(request):
        return web.json_response(value())
    return handler


class FakeMaster:
    def __init__(self, nodes=("127.0.0.2", "127.0.0.3", "127.0.0.4"), jobs=0):
        self.config = [[h, "2"] for h in nodes]
        self.blacklist: list[str] = []
        self.gc_blacklist: list[str] = []
        self.settings = {"max_failure_rate": 100, "accept_new_jobs": 1}
        self.jobs: dict[str, FakeJob] = {}
        self.tags = {"data:words": {"urls": [[f"disco://127.0.0.2/ddfs/vol0/blob/1a/words-{i}$5a-1-2",
                                              f"disco://127.0.0.3/ddfs/vol0/blob/1a/words-{i}$5a-1-2"] for i in range(3)],
                                    "user-data": {"source": "gutenberg"}},
                     "data:links": {"urls": [["tag://data:words"]], "user-data": {}},
                     "<img src=x onerror=alert(1)>": {"urls": [], "user-data": {}}}
        self.gc_stats: object = {"timestamp": stamp(time.time() - 3600), "stats": {
            "Tags kept": [3, 2048], "Tags deleted": [0, 0], "Blobs kept": [12, 10485760], "Blobs deleted": [2, 4096]}}
        self.gc_running_until = 0.0
        now = time.time()
        for i in range(jobs):
            self.add_job(f"Job{i}@{i:x}:1:1", now - 3600 + i)

    def hosts(self):
        return [h for h, _ in self.config]

    def add_job(self, name, start=None, **kw):
        start = time.time() if start is None else start
        kw.setdefault("hosts", [h for h in self.hosts() if h not in self.blacklist] or self.hosts())
        self.jobs[name] = FakeJob(name, start, **kw)
        return self.jobs[name]

    def app(self) -> web.Application:
        app = web.Application()
        r = app.router
        r.add_get("/disco/version", reply(lambda: "0.6.0"))
        r.add_get("/disco/ctrl/nodeinfo", self.nodeinfo)
        r.add_get("/disco/ctrl/joblist", self.joblist)
        r.add_get("/disco/ctrl/jobinfo", self.jobinfo)
        r.add_get("/disco/ctrl/jobevents", self.jobevents)
        r.add_get("/disco/ctrl/rawevents", self.rawevents)
        r.add_post("/disco/ctrl/get_results", self.get_results)
        r.add_post("/disco/ctrl/kill_job", self.kill_job)
        r.add_post("/disco/ctrl/purge_job", self.purge_job)
        r.add_get("/disco/ctrl/load_config_table", reply(lambda: self.config))
        r.add_post("/disco/ctrl/save_config_table", self.save_config_table)
        r.add_get("/disco/ctrl/get_blacklist", reply(lambda: self.blacklist))
        r.add_get("/disco/ctrl/get_gc_blacklist", reply(lambda: self.gc_blacklist))
        r.add_get("/ddfs/ctrl/safe_gc_blacklist", reply(lambda: self.gc_blacklist[:1]))
        for op, attr, add in (("blacklist", "blacklist", True), ("whitelist", "blacklist", False),
                              ("gc_blacklist", "gc_blacklist", True), ("gc_whitelist", "gc_blacklist", False)):
            r.add_post(f"/disco/ctrl/{op}", self.listop(attr, add))
        r.add_get("/disco/ctrl/get_settings", reply(lambda: self.settings))
        r.add_get("/disco/ctrl/settings", reply(lambda: settings_table.rows({})))
        r.add_post("/disco/ctrl/save_settings", self.save_settings)
        r.add_get("/ddfs/ctrl/gc_stats", reply(lambda: self.gc_stats))
        r.add_get("/ddfs/ctrl/gc_status", self.gc_status)
        r.add_get("/ddfs/ctrl/gc_start", self.gc_start)
        r.add_get("/ddfs/tags", self.tag_list)
        r.add_get("/ddfs/tags/{prefix}", self.tag_list)
        r.add_get("/ddfs/tag/{tag}", self.tag)
        disco.web.setup(app, None, self)
        return app

    async def nodeinfo(self, request):
        now, out = time.time(), {}
        for host, workers in self.config:
            tasks = [j.name for j in self.jobs.values() for t in j.running(now) if t[3] == host]
            info = {"job_ok": sum(1 for j in self.jobs.values() for t in j.tasks if t[3] == host and t[5] <= j.now(now) and t[6]),
                    "data_error": sum(1 for j in self.jobs.values() for t in j.tasks if t[3] == host and t[5] <= j.now(now) and not t[6]),
                    "error": 0, "max_workers": int(workers), "connected": host != "127.0.0.9",
                    "blacklisted": host in self.blacklist, "diskfree": 40_000_000, "diskused": 1_500_000}
            if tasks:
                info["tasks"] = tasks
            out[host] = info
        return web.json_response(out)

    async def joblist(self, request):
        now = time.time()
        jobs = sorted(self.jobs.values(), key=lambda j: -j.start)
        return web.json_response([[int(j.start), j.status(now), j.name] for j in jobs if not j.purged])

    def job(self, request) -> FakeJob:
        job = self.jobs.get(request.query.get("name", ""))
        if job is None or job.purged:
            raise web.HTTPNotFound(text=json.dumps("unknown job"), content_type="application/json")
        return job

    async def jobinfo(self, request):
        job, now = self.job(request), time.time()
        return web.json_response({
            "timestamp": stamp(job.start), "active": job.status(now), "pipeline": job.pipeline(now),
            "results": [u for r in job.results(now) for u in r],
            "inputs": [f"raw://line{i}" for i in range(3)] + ["tag://data:words"],
            "worker": "disco-worker", "hosts": sorted({t[3] for t in job.running(now)}), "owner": job.owner})

    async def jobevents(self, request):
        job = self.job(request)
        num = int(request.query.get("num", "10"))
        text = request.query.get("filter", "")
        if len(text) > 200:
            raise web.HTTPBadRequest(text=json.dumps("filter too long"), content_type="application/json")
        events = job.events(time.time())[::-1]
        if text:
            events = [e for e in events if text.lower() in json.dumps(e).lower()]
        return web.json_response(events[:num], content_type="text/plain")

    async def rawevents(self, request):
        job = self.job(request)
        body = "".join(json.dumps(e) + "\n" for e in job.events(time.time())).encode()
        return web.Response(body=body, content_type="text/plain")

    async def get_results(self, request):
        timeout, names = await request.json()
        now, out = time.time(), []
        for name in names:
            job = self.jobs.get(name)
            out.append([name, ["unknown job", []] if job is None else [job.status(now), job.results(now)]])
        return web.json_response(out)

    async def kill_job(self, request):
        job = self.jobs.get(await request.json())
        if job is None:
            raise web.HTTPNotFound(text=json.dumps("unknown job"))
        if job.status(time.time()) == "active":
            job.killed_at = time.time()
        return web.json_response("")

    async def purge_job(self, request):
        await self.kill_job(request)
        self.jobs[await request.json()].purged = True
        return web.json_response("")

    async def save_config_table(self, request):
        table = await request.json()
        ok = isinstance(table, list) and all(isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r)
                                             and r[1].isdigit() for r in table)
        if not ok:
            raise web.HTTPBadRequest(text=json.dumps("invalid config"), content_type="application/json")
        if len({r[0] for r in table}) != len(table):
            raise web.HTTPBadRequest(text=json.dumps("duplicate nodes"), content_type="application/json")
        self.config = table
        return web.json_response("table saved!")

    def listop(self, attr, add):
        async def handler(request):
            host, hosts = await request.json(), getattr(self, attr)
            if add and host not in hosts:
                hosts.append(host)
            if not add and host in hosts:
                hosts.remove(host)
            return web.json_response("")
        return handler

    async def save_settings(self, request):
        body = await request.json()
        self.settings = {"max_failure_rate": int(body["max_failure_rate"]),
                         "accept_new_jobs": int(body["accept_new_jobs"])}
        return web.json_response("Settings saved")

    async def gc_status(self, request):
        running = time.time() < self.gc_running_until
        return web.json_response("GC is scanning DDFS (phase build_map)." if running else "")

    async def gc_start(self, request):
        self.gc_running_until = time.time() + 3
        return web.json_response("GC has started")

    async def tag_list(self, request):
        prefix = request.match_info.get("prefix", "")
        return web.json_response([t for t in self.tags if t.startswith(prefix)])

    async def tag(self, request):
        name = request.match_info["tag"]
        if name not in self.tags:
            raise web.HTTPNotFound(text=json.dumps("Tag not found."))
        tag = self.tags[name]
        return web.json_response({"version": 1, "id": f"{name}$5a-1-2", "last-modified": stamp(time.time()),
                                  "urls": tag["urls"], "user-data": tag["user-data"]})


def demo() -> FakeMaster:
    """A populated cluster for looking at the pages."""
    master = FakeMaster(nodes=[f"127.0.0.{i}" for i in range(2, 9)] + ["127.0.0.9"])
    master.config[0][1] = "4"
    master.blacklist.append("127.0.0.8")
    master.gc_blacklist.extend(["127.0.0.7", "127.0.0.8"])
    rng = random.Random(1)
    now = time.time()
    for i in range(40):
        master.add_job(f"WordCount@{i:03x}:ea20f:9fd7f", now - 4000 + i * 90, maps=rng.randint(3, 12),
                       task_seconds=rng.uniform(1, 6), owner=rng.choice(["alice@box", "bob@lab"]),
                       hosts=master.hosts()[:6])
    master.add_job("LongJob@5:1:1", now - 20, maps=40, reduces=4, task_seconds=8, fail={3, 9},
                   hosts=master.hosts()[:6])
    master.add_job("Deadjob@5:1:2", now - 600, hosts=master.hosts()[:3]).killed_at = now - 598
    return master


if __name__ == "__main__":
    web.run_app(demo().app(), host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 8989)
