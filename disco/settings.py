"""Disco settings: :class:`DiscoSettings` (layer 0, stdlib only).

Every setting of Disco 0.5.4 keeps its name and meaning. A value comes from, in order:
an explicit item (``DiscoSettings(DISCO_PORT=9000)`` or ``settings['X'] = v``), the
environment (a string), the settings file (``DISCO_SETTINGS_FILE``, default ``~/.disco``
then ``/etc/disco/settings.py``; parsed as data, never executed, see :mod:`clx.settings`),
then the defaults below, which may derive from other settings.

``settings['X']`` behaves as in Disco (environment values are strings). Our own code uses
the typed accessors ``get_int``, ``get_float``, ``get_bool``, ``get_str``, ``get_path``.

Defaults that differ from Disco: ``DISCO_HOME`` is ``~/.local/share/disco`` when no
``.disco-home`` marker is found above the package (a pip install has no source tree), and
``DISCO_MASTER_HOST`` is ``localhost`` (servers listen on loopback unless told otherwise).
Our additional settings (timeouts, intervals, limits) are listed in ``OUR_DEFAULTS``.
"""
from __future__ import annotations

import json
import logging
import os
import pwd
import socket
from typing import Any, Callable

from clx.settings import Settings

from disco.error import ConfigError

log = logging.getLogger(__name__)

Default = Callable[["DiscoSettings"], Any]


def guess_home() -> str:
    """The directory holding ``.disco-home`` above this package, else ``~/.local/share/disco``."""
    package_dir = os.path.dirname(os.path.realpath(__file__))
    for candidate in (os.path.dirname(package_dir), os.path.dirname(os.path.dirname(package_dir))):
        if os.path.exists(os.path.join(candidate, ".disco-home")):
            return candidate
    return os.path.join(os.path.expanduser("~"), ".local", "share", "disco")


def guess_settings() -> str:
    """The first existing of ``~/.disco`` and ``/etc/disco/settings.py``, else ''."""
    for path in (os.path.expanduser("~/.disco"), "/etc/disco/settings.py"):
        if os.path.exists(path):
            return path
    return ""


def job_owner() -> str:
    """``user@host`` of the submitting user."""
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = os.getenv("LOGNAME") or str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _join(base: str, *parts: str) -> Default:
    return lambda s: os.path.join(s[base], *parts)


DISCO_DEFAULTS: dict[str, Any] = {
    "DISCO_DATA": _join("DISCO_ROOT", "data"),
    "DISCO_DEBUG": "off",
    "DISCO_ERLANG": "erl",
    "DISCO_EVENTS": "",
    "DISCO_FLAGS": "",
    "DISCO_HOME": lambda s: guess_home(),
    "DISCO_HTTPD": "lighttpd -f $DISCO_PROXY_CONFIG",
    "DISCO_MASTER": lambda s: (f"{'https' if s['DISCO_TLS_CERT'] else 'http'}://"
                               f"{s['DISCO_MASTER_HOST']}:{s['DISCO_PORT']}"),
    "DISCO_MASTER_HOME": _join("DISCO_HOME", "master"),
    "DISCO_MASTER_HOST": "localhost",
    "DISCO_MASTER_ROOT": lambda s: os.path.join(s["DISCO_DATA"], f"_{s['DISCO_NAME']}"),
    "DISCO_MASTER_CONFIG": lambda s: os.path.join(s["DISCO_ROOT"], f"{s['DISCO_NAME']}.config"),
    "DISCO_NAME": lambda s: f"disco_{s['DISCO_PORT']}",
    "DISCO_LOG_DIR": _join("DISCO_ROOT", "log"),
    "DISCO_PID_DIR": _join("DISCO_ROOT", "run"),
    "DISCO_PORT": 8989,
    "DISCO_ROOT": _join("DISCO_HOME", "root"),
    "DISCO_ROTATE_LOG": False,
    "DISCO_SETTINGS_FILE": lambda s: guess_settings(),
    "DISCO_WORKER_MAX_MEM": "80%",
    "DISCO_ULIMIT": 16000000,
    "DISCO_USER": lambda s: os.getenv("LOGNAME"),
    "DISCO_JOB_OWNER": lambda s: job_owner(),
    "DISCO_WWW_ROOT": _join("DISCO_MASTER_HOME", "www"),
    "DISCO_GC_AFTER": 100 * 365 * 24 * 60 * 60,
    "DATA_GC_INTERVAL": 12,
    "DISCO_PROFILE": "False",
    "GRAPHITE_HOST": "localhost",
    "SYSTEMD_ENABLED": False,
    "DISCO_PROXY_ENABLED": "",
    "DISCO_PROXY": "",
    "DISCO_PROXY_PORT": 8999,
    "DISCO_PROXY_PID": lambda s: os.path.join(s["DISCO_ROOT"], f"{s['DISCO_NAME']}-proxy.pid"),
    "DISCO_PROXY_CONFIG": lambda s: os.path.join(s["DISCO_ROOT"], f"{s['DISCO_NAME']}-proxy.conf"),
    "DISCO_SCHEDULER": "fair",
    "DISCO_SCHEDULER_ALPHA": 0.001,
    "DISCO_TEST_DISCODB": "",
    "DISCO_TEST_HOST": lambda s: s["DISCO_MASTER_HOST"],
    "DISCO_TEST_PORT": 9444,
    "DISCO_TEST_PROFILE": "",
    "DISCO_TEST_PURGE": "purge",
    "DDFS_SPACE_AWARE": "",
    "DDFS_ABSOLUTE_SPACE": "",
    "DDFS_ROOT": _join("DISCO_ROOT", "ddfs"),
    "DDFS_DATA": lambda s: s["DDFS_ROOT"],
    "DDFS_PUT_PORT": 8990,
    "DDFS_PUT_MAX": 3,
    "DDFS_GET_MAX": 3,
    "DDFS_READ_TOKEN": None,
    "DDFS_WRITE_TOKEN": None,
    "DDFS_TAG_MIN_REPLICAS": 1,
    "DDFS_TAG_REPLICAS": 1,
    "DDFS_BLOB_REPLICAS": 1,
    "DDFS_PARANOID_DELETE": "",
    "DDFS_GC_INITIAL_WAIT": "",
    "DDFS_GC_BALANCE_THRESHOLD": 0.1,
}

#: Our settings (docs/architecture.md "Settings"): every interval, timeout and limit.
OUR_DEFAULTS: dict[str, Any] = {
    "DISCO_WORKER_START_TIMEOUT": 30,
    "DISCO_WORKER_MESSAGE_TIMEOUT": 30,
    "DISCO_MSG_RATE_SLOW": 5,
    "DISCO_MSG_RATE_MAX": 10,
    "DISCO_RETRY_SLEEP_UNIT": 1,
    "DISCO_RETRY_SLEEP_MAX": 60,
    "DISCO_RETRY_SLEEP_RANDOM": 30,
    "DISCO_NODE_RESTART_DELAY": 15,
    "DISCO_NODE_HEARTBEAT": 5,
    "DISCO_NODE_TIMEOUT": 30,
    "DISCO_EVENTS_FLUSH_INTERVAL": 2,
    "DISCO_JOBPACK_MAX": 1 << 30,
    "DISCO_SCHEDULER_SEED": "",
    "DISCO_PURGED_KEEP": 86400,
    "DISCO_TEMP_GC_PAUSE": 0.1,
    "DISCO_NODE_ZYGOTE_IDLE": 30,
    "DISCO_WORKER_REUSE": True,
    "DISCO_WORKER_REUSE_IDLE": 10,
    "DISCO_SPECULATIVE": 1,
    "DISCO_SPECULATIVE_QUANTILE": 0.75,
    "DISCO_SPECULATIVE_MULTIPLIER": 1.5,
    "DISCO_SPECULATIVE_MIN_RUNTIME": 10,
    "DISCO_NODE_UNACKED_MAX": 10000,
    "DISCO_SSH_OPTIONS": "",
    "DISCO_NODE_PYTHON": "",
    # security (docs/security.md)
    "DISCO_SECRET": None,
    "DISCO_SECRET_FILE": _join("DISCO_ROOT", "secret"),
    "DISCO_PUBLIC_READS": "",
    "DISCO_TLS_CERT": "",
    "DISCO_TLS_KEY": "",
    "DISCO_TLS_CA": "",
    # HTTP server limits (docs/security-hardening.md "Limits")
    "DISCO_HTTP_MAX_CONNECTIONS": 1000,
    "DISCO_HTTP_MAX_CLIENT_CONNECTIONS": 200,
    "DISCO_HTTP_IDLE_TIMEOUT": 30,
    "DISCO_HTTP_MAX_BODY": 16 << 20,
    # workers as another user (docs/security-hardening.md "Worker user")
    "DISCO_WORKER_USER": "",
    # DDFS (docs/ddfs.md "Settings")
    "DDFS_GC_INTERVAL": 86400,
    "DDFS_ORPHAN_GRACE": 432000,
    "DDFS_PARTIAL_GRACE": 3600,
    "DDFS_DELETED_GRACE": 2592000,
    "DDFS_NODE_LOSS_GRACE": 120,
    "DDFS_MONITOR_INTERVAL": 2,
    "DDFS_DELAYED_FLUSH": 1,
    "DDFS_NODE_TIMEOUT": 60,
    "DDFS_MAX_UPLOADERS": 3,
    "DDFS_MAX_DOWNLOADERS": 3,
    "DDFS_TRANSFER_QUEUE": 100,
    "DDFS_TRANSFER_WAIT": 60,
    "DDFS_REBALANCE_MAX_BLOBS": 1000,
    "DDFS_MAX_TAG_BODY": 536870912,
    "DDFS_CONNECT_TIMEOUT": 3,
    "DDFS_READ_TIMEOUT": 600,
}

#: Directories :meth:`DiscoSettings.ensuredirs` creates.
MUST_EXIST = ("DISCO_DATA", "DISCO_ROOT", "DISCO_MASTER_HOME", "DISCO_MASTER_ROOT",
              "DISCO_LOG_DIR", "DISCO_PID_DIR", "DDFS_DATA")


class DiscoSettings(Settings):
    """Disco's settings; see the module docstring for the resolution order."""

    defaults = {**DISCO_DEFAULTS, **OUR_DEFAULTS}
    must_exist = MUST_EXIST
    settings_file_var = "DISCO_SETTINGS_FILE"
    error_class = ConfigError

    def ensuredirs(self) -> None:
        """Create the data/log/pid directories and a one-node cluster config if missing."""
        for name in self.must_exist:
            self.safedir(name)
        config = self.get_path("DISCO_MASTER_CONFIG")
        if not os.path.exists(config):
            os.makedirs(os.path.dirname(config), exist_ok=True)
            with open(config, "w", encoding="utf-8") as f:
                f.write(json.dumps([["localhost", str(os.cpu_count() or 1)]]))
