"""Composition root of the master: one aiohttp app on ``DISCO_MASTER_HOST:DISCO_PORT``.

Layer 2. Wires the SQLite `Store`, the `EventLogs`, the `Cluster` registry (config table,
blacklists, node links), the `NodeProcesses`, the `Master` runtime, the REST routes
(`disco.master.api`), the node websocket (`disco.master.link`), DDFS
(``disco.ddfs_server.master.setup(app, settings, cluster)``) and the web UI
(``disco.web.setup(app, settings, master)``).

Entry points: `make_app(settings)` (an `aiohttp.web.Application`, for tests and embedding) and
`main(settings)` (blocking: runs until SIGTERM/SIGINT, then stops node processes and exits;
writes ``DISCO_PID_DIR/master.pid``; logs go to ``DISCO_LOG_DIR/master.log`` when the CLI has not
configured logging).

Settings: the typed, frozen `Config` (`disco.settings_table.typed`) is built once here and handed
down (``app["config"]``, ``master.config``); nothing below looks a setting up by name. The
DiscoSettings stays in ``app["settings"]`` for one purpose: `NodeProcesses` hands settings on as
strings (a node process's environment, an ssh node's ``K=V`` command line).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import Any

from aiohttp import web

import disco.ddfs_server.master as ddfs_master
import disco.web as web_ui
from disco import auth, httperrors, httpauth, serverlimits, tls
from disco.master import api
from disco.master.config import ConfigFile
from disco.master.events import EventLogs
from disco.master.link import check_links, node_socket
from disco.master.master import Master
from disco.master.nodes import Cluster, NodeProcesses
from disco.master.store import Store
from disco.protocol import cluster as link
from disco.settings_table import config_of
from disco.web import login

log = logging.getLogger(__name__)

#: seconds between timer-loop passes (retry back-offs, node timeouts); event flushes use
#: DISCO_EVENTS_FLUSH_INTERVAL
TICK = 0.1
#: lateness of a timer pass (s) still counted as normal scheduling jitter
STALL_SLACK = 0.25


def make_app(settings: Any, start_nodes: bool = True, config: Any = None) -> web.Application:
    """Build the master application; `start_nodes=False` leaves node processes to the caller.

    `settings` is a DiscoSettings; `config` its typed Config when the caller built it already
    (`main`), else built here."""
    config = config or config_of(settings)
    os.makedirs(config.disco_master_root, exist_ok=True)
    cluster = Cluster(config)
    master = Master(config, cluster, Store(os.path.join(config.disco_master_root, "master.db")),
                    EventLogs(config.disco_master_root))
    master.master_url = f"{tls.scheme(config)}://{config.disco_master_host}:{config.disco_port}"
    app = web.Application(client_max_size=config.disco_jobpack_max + 1)
    app["master"] = master
    app["config"] = config
    app["settings"] = settings  # only for NodeProcesses: settings handed on as strings
    app["config_file"] = ConfigFile(config.disco_master_config)
    app["start_nodes"] = start_nodes
    httperrors.install(app)
    app.router.add_get(link.WS_PATH, node_socket)
    app.add_routes(api.routes)
    master.put_tag = ddfs_master.setup(app, config, cluster).put_tag_urls
    web_ui.setup(app, config, master)
    _protect(app, config)
    serverlimits.add_body_limit(app, config.disco_http_max_body, exempt=("/disco/job/", "/ddfs/"))
    app.cleanup_ctx.append(_lifecycle)
    return app


#: the master's routes serving the co-located node's task data and blobs (DISCO_PUBLIC_READS)
MASTER_DATA_ROUTES = ("/disco/{path}", "/ddfs/{path}")


def _protect(app: web.Application, config: Any) -> None:
    """With a cluster secret: every route but the node link (it authenticates in-band), the
    login form and the static files needs the cluster's credential (docs/security.md)."""
    secret = auth.load_secret(config)
    app["secret"] = secret
    if secret:
        login.setup(app, secret)
        httpauth.setup(app, config, exempt=(link.WS_PATH, login.LOGIN_PATH,
                                              login.LOGOUT_PATH, "/static/"),
                       login_path=login.LOGIN_PATH, data_routes=MASTER_DATA_ROUTES)


def _apply_config(app: web.Application) -> None:
    """Make the cluster, the scheduler and the node processes follow the config table."""
    master: Master = app["master"]
    config = app["config_file"].load()
    hosts = app["config_file"].hosts()
    added, removed = master.cluster.apply_table(hosts, config["blacklist"], config["gc_blacklist"])
    for host in removed:
        master.node_down(host)
    if app.get("node_processes") is not None:
        app["node_processes"].sync(list(hosts))
    if added or removed:
        log.info("config table: added %s, removed %s", added, removed)
    master.cluster_changed()


async def _lifecycle(app: web.Application):
    master: Master = app["master"]
    await master.store.open()
    await master.load()
    app["apply_config"] = lambda: _apply_config(app)
    app["node_processes"] = (NodeProcesses(master.config, master.cluster, master.master_url,
                                           app["settings"])
                             if app["start_nodes"] else None)
    _apply_config(app)
    master.start_resumed()
    timers = asyncio.create_task(_timer_loop(master), name="master-timers")
    app.on_shutdown.append(_stop_nodes)
    yield
    timers.cancel()
    await asyncio.gather(timers, return_exceptions=True)
    master.events.flush_all()
    await master.drain()
    await master.store.close()
    master.events.close()  # the lines drain added, then the writer thread ends


async def _stop_nodes(app: web.Application) -> None:
    """At shutdown, before aiohttp waits for open handlers: stop node processes, close links."""
    if app["node_processes"] is not None:
        await app["node_processes"].stop_all()
    for node in app["master"].cluster.nodes():
        if node.link is not None:
            await node.link.close()


async def _timer_loop(master: Master) -> None:
    """Retry back-offs, event flushes and node timeouts."""
    flush_every = master.config.disco_events_flush_interval
    node_timeout = master.config.disco_node_timeout
    heartbeat = master.config.disco_node_heartbeat
    last_flush = last_pass = time.time()
    while True:
        await asyncio.sleep(TICK)
        now = time.time()
        # a pass much later than TICK means this process did not run (machine overloaded)
        stalled = max(0.0, now - last_pass - TICK - STALL_SLACK)
        last_pass = now
        try:
            master.tick(now)
            master.flush_tasks()
            if now - last_flush >= flush_every:
                await master.events.flush_all_async()
                last_flush = now
            for peer in check_links(master.cluster.nodes(), now, heartbeat, node_timeout,
                                    stalled):
                await peer.ws.close()
        except Exception:  # a bug in one pass must not stop retries and flushes for good
            log.exception("master timer pass failed")


def _write_pid(config: Any) -> str:
    pid_dir = config.disco_pid_dir
    os.makedirs(pid_dir, exist_ok=True)
    path = os.path.join(pid_dir, "master.pid")
    with open(path, "w", encoding="ascii") as f:
        f.write(f"{os.getpid()}\n")
    return path


def _configure_log(config: Any) -> None:
    root = logging.getLogger()
    if root.handlers:
        return  # the CLI configured logging
    log_dir = config.disco_log_dir
    os.makedirs(log_dir, exist_ok=True)
    handler = logging.FileHandler(os.path.join(log_dir, "master.log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


async def serve(settings: Any, stop: asyncio.Event | None = None, config: Any = None) -> None:
    """Run the master until `stop` is set (or SIGTERM/SIGINT); `config` as for `make_app`."""
    config = config or config_of(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    app = make_app(settings, config=config)
    runner = serverlimits.runner(app, config, "master", handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner,
        config.disco_master_host,
        config.disco_port,
        reuse_address=True,
        ssl_context=tls.server_context(config),
    )
    await site.start()
    log.info("master listening on %s", app["master"].master_url)
    if not app["secret"] and auth.exposed_hosts([config.disco_master_host]):
        log.warning("listening beyond loopback without a cluster secret: anyone who can "
                    "reach %s can run code on every node (run `disco secret`)",
                    app["master"].master_url)
    try:
        await stop.wait()
    finally:
        log.info("master stopping")
        await runner.cleanup()


def main(settings: Any) -> None:
    """Run the master in the foreground until SIGTERM/SIGINT (``disco master``)."""
    config = config_of(settings)
    _configure_log(config)
    pid_path = _write_pid(config)
    try:
        asyncio.run(serve(settings, config=config))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(pid_path)
