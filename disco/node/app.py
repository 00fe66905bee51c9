"""The node process: composition root of `disco.node` (docs/architecture.md "Processes").

`main(settings, host, master_url)` runs one node until SIGTERM: it binds `HOST:DISCO_PORT`
(GET/HEAD `/disco/<path>` from DISCO_DATA and `/ddfs/<path>` from the node's DDFS data; not
for a node co-located with the master, whose files the master serves) and
`HOST:DDFS_PUT_PORT` (DDFS uploads, mounted by `disco.ddfs_server.node.setup`), keeps the
websocket link to the master, and runs one `TaskRunner` per `run_task`.

Settings: `Node` builds the typed, frozen Config (`disco.settings_table.typed`) once and hands
it (or the few values they need) to its parts; the DiscoSettings stays for the DDFS client only
(`disco.ddfs.DDFS`, a client library that reads settings by name).
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from typing import Any

from aiohttp import web

from disco.addresses import co_located, master_host_of
from disco import auth, httpauth, serverlimits, tls
from disco.ddfs_server import node as ddfs_node
from disco.node import counters
from disco.node.forkclient import ForkLauncher
from disco.node.jobhome import JobHomes
from disco.node.link import MasterLink
from disco.node.metrics import NodeMetrics, add_metrics_route
from disco.node.protocol import TaskInfo
from disco.node.save import ddfs_client, save_outputs
from disco.node.supervisor import (
    ExecLauncher,
    Launcher,
    SupervisorConfig,
    TaskRunner,
    worker_base_env,
)
from disco.node import workeruser
from disco.node.tempgc import TempGC
from disco.protocol import cluster
from disco.serving import serve_file
from disco.settings_table import config_of

log = logging.getLogger(__name__)

TaskKey = tuple[str, int, int]


class Node:
    """One node: HTTP servers, the master link and the running tasks."""

    def __init__(self, settings: Any, host: str, master_url: str,
                 launcher: Launcher | None = None, node_config: Any = None) -> None:
        """`settings`: a DiscoSettings; `node_config` its typed Config if the caller built it."""
        # settings: only for the DDFS client (save_results uploads, temp GC), which reads names
        self.settings, self.host, self.master_url = settings, host, master_url
        config = self.node_config = node_config or config_of(settings)
        self.disco_data = config.disco_data
        self.ddfs_data = config.ddfs_data
        self.config = SupervisorConfig.from_config(config)
        self.secret = auth.load_secret(config)
        users = workeruser.from_config(config)
        # workers as another user are exec'd: a zygote would run job code as the node's user
        self.launcher = launcher or (ExecLauncher(users) if users else ForkLauncher(
            ExecLauncher(), zygote_idle=config.disco_node_zygote_idle))
        self.base_env = worker_base_env(cluster={
            "DISCO_MASTER": master_url, "DISCO_PORT": str(config.disco_port),
            "DDFS_PUT_PORT": str(config.ddfs_put_port),
            "DISCO_DATA": self.disco_data, "DDFS_DATA": self.ddfs_data,
            **_tls_env(config), **counters.GRANT})
        self.jobhomes = JobHomes(self.disco_data, host, jobpack_max=config.disco_jobpack_max,
                                 session=lambda: httpauth.client_session(config))
        self.runners: dict[TaskKey, TaskRunner] = {}
        #: task_done reports the master has not acknowledged as stored (re-sent on connect)
        self.unacked: dict[TaskKey, dict] = {}
        self.unacked_max = config.disco_node_unacked_max
        self.max_workers = 0
        self.co_located = False
        self._runs: set[asyncio.Task] = set()
        self._web_runners: list[web.AppRunner] = []
        self._link_task: asyncio.Task | None = None
        self._ddfs = None  # DDFS client for save_results uploads, made on first use
        self.metrics = NodeMetrics(host)
        self.tempgc = TempGC(config, host, master_url, self.disco_data,
                             lambda: ddfs_client(master_url, settings))
        self._tempgc_task: asyncio.Task | None = None
        heartbeat = config.disco_node_heartbeat
        self.link = MasterLink(master_url, host, heartbeat=heartbeat,
                               timeout=config.disco_node_timeout,
                               retry_max=heartbeat, on_message=self.handle,
                               on_connect=self._on_connect, on_disconnect=self._on_disconnect,
                               disk_usage=self.disk_usage, running=self.running,
                               reports=lambda: list(self.unacked.values()),
                               secret=self.secret, ssl=_client_ssl(config))

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        os.makedirs(self.ddfs_data, exist_ok=True)
        os.makedirs(os.path.join(self.disco_data, self.host), exist_ok=True)
        self.co_located = await is_co_located(self.host, self.master_url)
        get_app = None if self.co_located else self._get_app()
        put_app = web.Application(client_max_size=0)
        ddfs_node.setup(get_app, put_app, self.node_config, self.host, self.ddfs_data)
        for app in (get_app, put_app):
            if app is not None:
                add_metrics_route(app, self.render_metrics)
        # the data server's files may be public reads (DISCO_PUBLIC_READS); uploads never
        if get_app is not None:
            httpauth.setup(get_app, self.node_config)
        httpauth.setup(put_app, self.node_config, data_routes=())
        if get_app is not None:
            self._add_file_routes(get_app)
            await self._bind(get_app, self.node_config.disco_port)
        await self._bind(put_app, self.node_config.ddfs_put_port)
        self._link_task = asyncio.create_task(self.link.run())
        self._tempgc_task = asyncio.create_task(self.tempgc.run(), name="temp-gc")
        log.info("node %s started (co-located with master: %s)", self.host, self.co_located)

    async def stop(self) -> None:
        self.kill_all()
        if self._link_task is not None:
            self._link_task.cancel()
            await asyncio.gather(self._link_task, return_exceptions=True)
        if self._tempgc_task is not None:
            self._tempgc_task.cancel()
            await asyncio.gather(self._tempgc_task, return_exceptions=True)
        if self._runs:
            await asyncio.wait(self._runs, timeout=10)
        for runner in self._web_runners:
            await runner.cleanup()
        await self.jobhomes.close()
        close = getattr(self.launcher, "close", None)
        if close is not None:
            await close()
        log.info("node %s stopped", self.host)

    def _get_app(self) -> web.Application:
        return web.Application()

    def _add_file_routes(self, app: web.Application) -> None:
        async def disco_file(request: web.Request) -> web.StreamResponse:
            return await serve_file(request, self.disco_data, request.match_info["path"])

        async def ddfs_file(request: web.Request) -> web.StreamResponse:
            return await serve_file(request, self.ddfs_data, request.match_info["path"],
                              volume_links=True)

        app.router.add_get("/disco/{path:.+}", disco_file)
        if not any(r.canonical.startswith("/ddfs/") for r in app.router.resources()):
            app.router.add_get("/ddfs/{path:.+}", ddfs_file)

    async def _bind(self, app: web.Application, port: int) -> None:
        runner = serverlimits.runner(app, self.node_config, f"node {self.host}:{port}",
                                     access_log=None)
        await runner.setup()
        self._web_runners.append(runner)
        await web.TCPSite(runner, self.host, port, reuse_address=True,
                          ssl_context=tls.server_context(self.node_config)).start()

    # ---- the link -----------------------------------------------------------------------

    def _on_connect(self, welcome: dict) -> None:
        self.max_workers = welcome["max_workers"]
        if self.unacked:
            log.info("sent %d task reports the master had not acknowledged again",
                     len(self.unacked))

    def _on_disconnect(self) -> None:
        if self.runners:
            log.warning("lost the master: killing %d running tasks (the master reschedules "
                        "them)", len(self.runners))
        self.kill_all()

    def handle(self, message: dict) -> None:
        """Dispatch one master message."""
        op = message["op"]
        if op == cluster.RUN_TASK:
            self.run_task(message)
        elif op == cluster.MORE_INPUTS:
            runner = self.runners.get(_key(message))
            if runner is not None:
                runner.add_inputs(message["inputs"], message["done"])
        elif op == cluster.KILL_TASK:
            runner = self.runners.get(_key(message))
            if runner is not None:
                runner.kill()
        elif op == cluster.KILL_JOB:
            self.kill_job(message["job"])
        elif op == cluster.PURGE_JOB:
            self.purge_job(message["job"])
        elif op == cluster.STORED:
            for key in message["tasks"]:
                self.unacked.pop(tuple(key), None)
        elif op == cluster.WELCOME:
            self._on_connect(message)
        else:
            log.warning("unexpected %s from master", op)

    def disk_usage(self) -> tuple[int, int]:
        """(free, used) kB of the DDFS data directory's file system."""
        try:
            usage = shutil.disk_usage(self.ddfs_data)
        except OSError:
            return 0, 0
        return usage.free // 1024, usage.used // 1024

    def send(self, message: dict) -> None:
        """Send a message to the master, counting task outcomes for `/metrics`."""
        self.metrics.observe(message)
        if message["op"] == cluster.TASK_DONE:
            self._keep_unacked(message)
        self.link.send(message)

    def _keep_unacked(self, message: dict) -> None:
        self.unacked[_key(message)] = message
        if len(self.unacked) > self.unacked_max:
            oldest = next(iter(self.unacked))
            log.warning("more than %d unacknowledged task reports: forgetting %s",
                        self.unacked_max, oldest)
            del self.unacked[oldest]

    def render_metrics(self) -> str:
        free, used = self.disk_usage()
        return self.metrics.render(len(self.runners), free, used)

    def running(self) -> list[list[Any]]:
        return [list(key) for key in self.runners]

    # ---- tasks --------------------------------------------------------------------------

    def run_task(self, message: dict) -> None:
        key = _key(message)
        if key in self.runners:
            log.warning("task %s is already running here", key)
            return
        runner = TaskRunner(message, self.task_info(message), self.jobhomes, self.launcher,
                            self.worker_env(message["job"]), self.config, self.send,
                            save=self.save_outputs)
        self.runners[key] = runner
        self.metrics.task_started(key)
        run = asyncio.create_task(self._run(runner))
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)

    async def _run(self, runner: TaskRunner) -> None:
        try:
            await runner.run()
        except Exception:  # a bug in one task's handling must not take the node down
            log.exception("task %s failed inside the node", runner.key)
            job, task, attempt = runner.key
            self.send(cluster.task_failed(job, task, attempt, cluster.KIND_ERROR,
                                          f"Internal node error on {self.host}"))
        finally:
            self.runners.pop(runner.key, None)

    def save_outputs(self, job: str, task: int, attempt: int, jobhome: str,
                     outputs: list) -> list:
        """Upload a last-stage task's outputs to DDFS (`save_results`; runs in a thread)."""
        if self._ddfs is None:
            self._ddfs = ddfs_client(self.master_url, self.settings)
        return save_outputs(self._ddfs, job, task, attempt, jobhome, outputs)

    def worker_env(self, job: str) -> dict[str, str]:
        """The base environment plus, with a cluster secret, the job's token (never the
        secret: docs/security.md "Workers")."""
        if not self.secret:
            return self.base_env
        return {**self.base_env, auth.JOB_TOKEN_VAR: auth.job_token(self.secret, job)}

    def task_info(self, message: dict) -> TaskInfo:
        job = message["job"]
        return TaskInfo(job=job, task=message["task"], attempt=message["attempt"],
                        stage=message["stage"], grouping=message["grouping"],
                        group=message["group"], host=self.host, master=self.master_url,
                        disco_port=self.node_config.disco_port,
                        put_port=self.node_config.ddfs_put_port,
                        ddfs_data=self.ddfs_data, disco_data=self.disco_data,
                        jobfile=os.path.join(self.jobhomes.path(job), "jobfile"))

    def kill_job(self, job: str) -> None:
        for key, runner in list(self.runners.items()):
            if key[0] == job:
                runner.kill()
        self._forget_zygote(job)

    def _forget_zygote(self, job: str) -> None:
        """The job runs no more tasks here: its zygote (`disco.node.forkserver`) may exit."""
        forget = getattr(self.launcher, "forget_job", None)
        if forget is not None:
            forget(self.jobhomes.path(job))

    def kill_all(self) -> None:
        for runner in list(self.runners.values()):
            runner.kill()

    def purge_job(self, job: str) -> None:
        self.kill_job(job)
        for key in [k for k in self.unacked if k[0] == job]:
            del self.unacked[key]
        self.jobhomes.forget(job)
        path = self.jobhomes.path(job)
        run = asyncio.create_task(asyncio.to_thread(self.tempgc.purge_now, job, path))
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)
        users = getattr(self.launcher, "users", None)
        if users is not None:  # DISCO_WORKER_UIDS: the uid is free once the files are gone
            run.add_done_callback(lambda _run: users.forget(path))


def _tls_env(config: Any) -> dict[str, str]:
    """The CA bundle workers need to verify the cluster's HTTPS servers (not a secret)."""
    ca = config.disco_tls_ca
    return {"DISCO_TLS_CA": str(ca)} if ca else {}


def _client_ssl(config: Any):
    return tls.client_context(config) if tls.enabled(config) or config.disco_tls_ca else None


def _key(message: dict) -> TaskKey:
    return (message["job"], message["task"], message["attempt"])


async def is_co_located(host: str, master_url: str) -> bool:
    """True when `host` resolves to an address of the master's host (disco.addresses)."""
    master_host = master_host_of(master_url)
    return bool(master_host) and await asyncio.to_thread(co_located, host, master_host)


# ---- process entry point -----------------------------------------------------------------

async def serve(settings: Any, host: str, master_url: str, node_config: Any = None) -> None:
    """Run a node until SIGTERM/SIGINT (`node_config`: as for `Node`)."""
    node = Node(settings, host, master_url, node_config=node_config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await node.start()
    try:
        await stop.wait()
    finally:
        await node.stop()


def main(settings: Any, host: str, master_url: str) -> None:
    """`disco node`: run the node for `host`, blocking until SIGTERM."""
    config = config_of(settings)
    _log_to_file(config, host)
    pid_file = os.path.join(config.disco_pid_dir, f"node-{host}.pid")
    os.makedirs(os.path.dirname(pid_file), exist_ok=True)
    with open(pid_file, "w", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    try:
        asyncio.run(serve(settings, host, master_url, node_config=config))
    finally:
        try:
            os.unlink(pid_file)
        except FileNotFoundError:
            pass


def _log_to_file(config: Any, host: str) -> None:
    """Daemon log `DISCO_LOG_DIR/node-<host>.log` (unless the CLI already set up logging)."""
    root = logging.getLogger()
    if root.handlers:
        return
    log_dir = config.disco_log_dir
    os.makedirs(log_dir, exist_ok=True)
    handler = logging.FileHandler(os.path.join(log_dir, f"node-{host}.log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if config.disco_debug not in ("off", "") else
                  logging.INFO)
