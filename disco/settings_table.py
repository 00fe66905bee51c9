"""The table of every setting (layer 0, stdlib only): name, type, default, one line of help.

It is the only source of defaults. :class:`disco.settings.DiscoSettings` reads its defaults from
:data:`SETTINGS`; ``disco settings`` prints it; docs/settings.md is generated from it
(``python -m disco.settings_table > docs/settings.md``, checked by
tests/unit/test_settings_table.py);
the UI's settings page shows it (``GET /disco/ctrl/settings``). Disco's names, defaults and
derivations are kept (DISCO.md §1.12); a default that derives from other settings is a
:class:`Derived` whose ``text`` says how.

:func:`typed` builds a frozen, typed snapshot (:class:`Config`) of any settings mapping: what a
process's composition root (the master's ``make_app``, the node's ``Node``) builds once and hands
to the parts below it, which read ``config.disco_port`` and never a setting by name
(docs/architecture.md "One typed Config per process"; tests/unit/test_config.py checks).
"""
from __future__ import annotations

import functools

import os
import pwd
import socket
from dataclasses import dataclass, make_dataclass
from typing import Any, Callable, Iterable, Mapping

from disco.error import ConfigError

_FALSE_WORDS = frozenset({"", "0", "false", "no", "off", "none"})


@dataclass(frozen=True)
class Derived:
    """A default computed from other settings (``settings`` is the settings object)."""

    text: str
    compute: Callable[[Any], Any]

    def __call__(self, settings: Any) -> Any:
        return self.compute(settings)


@dataclass(frozen=True)
class Setting:
    """One setting: ``kind`` is str, int, float, bool or path."""

    name: str
    kind: str
    default: Any
    help: str
    #: Disco's own setting (DISCO.md §1.12) rather than one of ours
    disco: bool = False

    def shown_default(self) -> str:
        """The default as the docs show it."""
        if isinstance(self.default, Derived):
            return self.default.text
        return repr(self.default)


def _join(base: str, *parts: str) -> Derived:
    text = "/".join([f"${base}", *parts])
    return Derived(text, lambda s: os.path.join(s[base], *parts))


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


def _disco(name: str, kind: str, default: Any, help: str) -> Setting:
    return Setting(name, kind, default, help, disco=True)


DAY = 24 * 3600

#: Disco's settings (DISCO.md §1.12), with Disco's defaults and derivations.
DISCO_SETTINGS = (
    _disco(
        "DISCO_HOME",
        "path",
        Derived("the dir holding .disco-home, else ~/.local/share/disco", lambda s: guess_home()),
        "install root",
    ),
    _disco("DISCO_ROOT", "path", _join("DISCO_HOME", "root"), "root for data and metadata"),
    _disco(
        "DISCO_DATA",
        "path",
        _join("DISCO_ROOT", "data"),
        "node data dir: job homes and task outputs (DISCO_DATA/<host>/...)",
    ),
    _disco("DISCO_MASTER_HOME", "path", _join("DISCO_HOME", "master"), "master files dir"),
    _disco(
        "DISCO_MASTER_ROOT",
        "path",
        Derived(
            "$DISCO_DATA/_$DISCO_NAME",
            lambda s: os.path.join(s["DISCO_DATA"], f"_{s['DISCO_NAME']}"),
        ),
        "the master's job dirs and store",
    ),
    _disco(
        "DISCO_MASTER_CONFIG",
        "path",
        Derived(
            "$DISCO_ROOT/$DISCO_NAME.config",
            lambda s: os.path.join(s["DISCO_ROOT"], f"{s['DISCO_NAME']}.config"),
        ),
        "the cluster config table (JSON)",
    ),
    _disco(
        "DISCO_MASTER_HOST",
        "str",
        "localhost",
        "host the master listens on (Disco: the hostname; set it for a real cluster)",
    ),
    _disco("DISCO_PORT", "int", 8989, "HTTP port of the master and of the nodes' file servers"),
    _disco(
        "DISCO_MASTER",
        "str",
        Derived(
            "http(s)://$DISCO_MASTER_HOST:$DISCO_PORT (https with DISCO_TLS_CERT)",
            lambda s: (f"{'https' if s['DISCO_TLS_CERT'] else 'http'}://"
                       f"{s['DISCO_MASTER_HOST']}:{s['DISCO_PORT']}"),
        ),
        "the master's URL, used by clients",
    ),
    _disco(
        "DISCO_NAME",
        "str",
        Derived("disco_$DISCO_PORT", lambda s: f"disco_{s['DISCO_PORT']}"),
        "cluster name",
    ),
    _disco("DISCO_LOG_DIR", "path", _join("DISCO_ROOT", "log"), "daemon logs"),
    _disco("DISCO_PID_DIR", "path", _join("DISCO_ROOT", "run"), "daemon pid files"),
    _disco(
        "DISCO_WWW_ROOT",
        "path",
        _join("DISCO_MASTER_HOME", "www"),
        "web UI doc root (Disco's; our UI ships in the package)",
    ),
    _disco("DISCO_ERLANG", "str", "erl", "Erlang launcher (unused: the master is Python)"),
    _disco("DISCO_HTTPD", "str", "lighttpd -f $DISCO_PROXY_CONFIG", "proxy command"),
    _disco("DISCO_DEBUG", "str", "off", "off, log or trace; test verbosity"),
    _disco(
        "DISCO_EVENTS",
        "str",
        "",
        "events echoed by Job.wait: '' off, json, nocolor, anything else ANSI color",
    ),
    _disco("DISCO_FLAGS", "str", "", "client flags (nocurl)"),
    _disco("DISCO_ROTATE_LOG", "bool", False, "rotate the master log on start"),
    _disco(
        "DISCO_USER", "str", Derived("$LOGNAME", lambda s: os.getenv("LOGNAME")), "user to run as"
    ),
    _disco(
        "DISCO_JOB_OWNER", "str", Derived("user@host", lambda s: job_owner()), "the jobdict's owner"
    ),
    _disco(
        "DISCO_SETTINGS_FILE",
        "path",
        Derived("~/.disco, else /etc/disco/settings.py", lambda s: guess_settings()),
        "settings file (parsed as data, never executed)",
    ),
    _disco(
        "DISCO_WORKER_MAX_MEM", "str", "80%", "RLIMIT_AS of workers: a percentage of RAM or bytes"
    ),
    _disco("DISCO_ULIMIT", "int", 16000000, "(undocumented in Disco)"),
    _disco("DISCO_GC_AFTER", "int", 100 * 365 * DAY, "s after which unpurged job data is deleted"),
    _disco("DATA_GC_INTERVAL", "float", 12, "hours between a node's temp GC passes"),
    _disco("DISCO_PROFILE", "str", "False", "folsom/graphite metrics (unused)"),
    _disco("GRAPHITE_HOST", "str", "localhost", "graphite host (unused)"),
    _disco("SYSTEMD_ENABLED", "bool", False, "running under systemd"),
    _disco("DISCO_PROXY_ENABLED", "str", "", "start the master-side proxy"),
    _disco("DISCO_PROXY", "str", "", "proxy URL clients go through"),
    _disco("DISCO_PROXY_PORT", "int", 8999, "proxy port"),
    _disco(
        "DISCO_PROXY_PID",
        "path",
        Derived(
            "$DISCO_ROOT/$DISCO_NAME-proxy.pid",
            lambda s: os.path.join(s["DISCO_ROOT"], f"{s['DISCO_NAME']}-proxy.pid"),
        ),
        "proxy pid file",
    ),
    _disco(
        "DISCO_PROXY_CONFIG",
        "path",
        Derived(
            "$DISCO_ROOT/$DISCO_NAME-proxy.conf",
            lambda s: os.path.join(s["DISCO_ROOT"], f"{s['DISCO_NAME']}-proxy.conf"),
        ),
        "proxy config file",
    ),
    _disco(
        "DISCO_SCHEDULER", "str", "fair", "scheduler policy (Disco documents it, never wires it)"
    ),
    _disco(
        "DISCO_SCHEDULER_ALPHA", "float", 0.001, "fair scheduler alpha (not wired, as in Disco)"
    ),
    _disco("DISCO_TEST_DISCODB", "str", "", "test harness: run the discodb tests"),
    _disco(
        "DISCO_TEST_HOST",
        "str",
        Derived("$DISCO_MASTER_HOST", lambda s: s["DISCO_MASTER_HOST"]),
        "test harness: host of the test HTTP server",
    ),
    _disco("DISCO_TEST_PORT", "int", 9444, "test harness: port of the test HTTP server"),
    _disco("DISCO_TEST_PROFILE", "str", "", "test harness: profile jobs"),
    _disco("DISCO_TEST_PURGE", "str", "purge", "test harness: purge jobs after each test"),
    _disco("DDFS_SPACE_AWARE", "bool", "", "place blobs weighted by free space"),
    _disco("DDFS_ABSOLUTE_SPACE", "bool", "", "weigh by absolute (not relative) free space"),
    _disco("DDFS_ROOT", "path", _join("DISCO_ROOT", "ddfs"), "DDFS storage root (deprecated)"),
    _disco(
        "DDFS_DATA", "path", Derived("$DDFS_ROOT", lambda s: s["DDFS_ROOT"]), "DDFS storage root"
    ),
    _disco("DDFS_PUT_PORT", "int", 8990, "port of the nodes' DDFS upload servers"),
    _disco("DDFS_PUT_MAX", "int", 3, "documented retry count (unused, as in Disco)"),
    _disco("DDFS_GET_MAX", "int", 3, "documented retry count (unused, as in Disco)"),
    _disco("DDFS_READ_TOKEN", "str", None, "the client's default read token"),
    _disco("DDFS_WRITE_TOKEN", "str", None, "the client's default write token"),
    _disco("DDFS_TAG_MIN_REPLICAS", "int", 1, "tag replicas a tag write must reach"),
    _disco("DDFS_TAG_REPLICAS", "int", 1, "replicas of each tag"),
    _disco("DDFS_BLOB_REPLICAS", "int", 1, "replicas of each blob"),
    _disco("DDFS_PARANOID_DELETE", "bool", "", "GC renames to !trash. instead of deleting"),
    _disco(
        "DDFS_GC_INITIAL_WAIT",
        "float",
        5,
        "minutes before the first GC (Disco's default '' means 5)",
    ),
    _disco(
        "DDFS_GC_BALANCE_THRESHOLD", "float", 0.1, "utilisation spread that triggers rebalancing"
    ),
)

#: Our settings (docs/architecture.md "Settings"): every interval, timeout and limit.
OUR_SETTINGS = (
    Setting("DISCO_WORKER_START_TIMEOUT", "float", 30, "s for a worker to send WORKER"),
    Setting(
        "DISCO_WORKER_MESSAGE_TIMEOUT", "float", 30, "s a started message may take to complete"
    ),
    Setting(
        "DISCO_MSG_RATE_SLOW",
        "int",
        5,
        "MSGs per trailing second after which OK is delayed 200 ms",
    ),
    Setting(
        "DISCO_MSG_RATE_MAX", "int", 10, "MSGs per second that make the job fail (behaving badly)"
    ),
    Setting(
        "DISCO_RETRY_SLEEP_UNIT",
        "float",
        1,
        "s; retry sleep = min(failures * unit, max) + random(0..random)",
    ),
    Setting("DISCO_RETRY_SLEEP_MAX", "float", 60, "s, the retry sleep's cap"),
    Setting("DISCO_RETRY_SLEEP_RANDOM", "float", 30, "s, the retry sleep's random part"),
    Setting("DISCO_NODE_RESTART_DELAY", "float", 15, "s before a dead node process is restarted"),
    Setting("DISCO_NODE_HEARTBEAT", "float", 5, "s between node status messages"),
    Setting(
        "DISCO_NODE_TIMEOUT", "float", 30, "s without a heartbeat after which a node counts as lost"
    ),
    Setting("DISCO_EVENTS_FLUSH_INTERVAL", "float", 2, "s between event-log flushes"),
    Setting("DISCO_JOBPACK_MAX", "int", 1 << 30, "bytes a job pack may have"),
    Setting(
        "DISCO_SCHEDULER_SEED",
        "str",
        "",
        "seed of random choices (replica host, shuffle), for tests",
    ),
    Setting(
        "DISCO_PURGED_KEEP",
        "float",
        DAY,
        "s the master remembers a purged job for the nodes' temp GC",
    ),
    Setting(
        "DISCO_TEMP_GC_PAUSE", "float", 0.1, "s a node's temp GC sleeps after each deleted dir"
    ),
    Setting(
        "DISCO_NODE_ZYGOTE_IDLE",
        "float",
        30,
        "s a job's fork zygote outlives its last task on a node (0: no zygotes)",
    ),
    Setting("DISCO_SPECULATIVE", "bool", 1, "run a slow task's second attempt (docs/hosts.md)"),
    Setting(
        "DISCO_SPECULATIVE_QUANTILE",
        "float",
        0.75,
        "share of a stage's tasks done before speculation starts",
    ),
    Setting(
        "DISCO_SPECULATIVE_MULTIPLIER",
        "float",
        1.5,
        "a task is slow after this many times the median run time",
    ),
    Setting(
        "DISCO_SPECULATIVE_MIN_RUNTIME",
        "float",
        10,
        "s a task runs at least before it counts as slow",
    ),
    Setting(
        "DISCO_NODE_UNACKED_MAX",
        "int",
        10000,
        "task_done reports a node keeps until the master says they are stored",
    ),
    Setting(
        "DISCO_SSH_OPTIONS",
        "str",
        "",
        "options the master adds to ssh when it starts or stops a remote node",
    ),
    Setting(
        "DISCO_NODE_PYTHON",
        "str",
        "",
        "the nodes' Python for ssh starts ('' = the master's interpreter)",
    ),
    Setting("DISCO_WORKER_REUSE", "bool", True,
            "a worker that asks for another task gets the job's next task on the node"),
    Setting("DISCO_WORKER_REUSE_IDLE", "float", 10,
            "s a reusable worker waits for its next task before it is stopped"),
    # security (docs/security.md)
    Setting("DISCO_SECRET", "str", None,
            "the cluster secret (else the contents of DISCO_SECRET_FILE; none: no auth)"),
    Setting("DISCO_SECRET_FILE", "path", _join("DISCO_ROOT", "secret"),
            "file holding the cluster secret (mode 0600)"),
    Setting("DISCO_PUBLIC_READS", "bool", "",
            "GET/HEAD of task data and blobs need no credential (Disco 0.5.4's worker)"),
    Setting("DISCO_TLS_CERT", "path", "", "certificate file: the servers speak HTTPS"),
    Setting("DISCO_TLS_KEY", "path", "", "the certificate's key file ('' = in DISCO_TLS_CERT)"),
    Setting("DISCO_TLS_CA", "path", "", "CA file clients and nodes verify the servers with"),
    # HTTP server limits (docs/security-hardening.md "Limits")
    Setting("DISCO_HTTP_MAX_CONNECTIONS", "int", 1000, "open connections a server accepts"),
    Setting("DISCO_HTTP_MAX_CLIENT_CONNECTIONS", "int", 200,
            "open connections a server accepts from one client address"),
    Setting("DISCO_HTTP_IDLE_TIMEOUT", "float", 30, "s an idle connection is kept open"),
    Setting("DISCO_HTTP_MAX_BODY", "int", 16 << 20,
            "bytes in a request body (job packs and uploads have their own limits)"),
    # workers as another user (docs/security-hardening.md "Worker user")
    Setting("DISCO_WORKER_USER", "str", "",
            "run workers as this unprivileged user when the node runs as root"),
    Setting("DISCO_WORKER_UIDS", "str", "",
            "first-last: each job's workers get a uid of their own from this range"),
    Setting("DDFS_GC_INTERVAL", "float", DAY, "s between periodic GC runs"),
    Setting(
        "DDFS_ORPHAN_GRACE",
        "float",
        5 * DAY,
        "s before an unreferenced blob or old tag version may be deleted",
    ),
    Setting("DDFS_PARTIAL_GRACE", "float", 3600, "s before a !partial upload is stale"),
    Setting("DDFS_DELETED_GRACE", "float", 30 * DAY, "s a +deleted entry is kept"),
    Setting(
        "DDFS_NODE_LOSS_GRACE",
        "float",
        120,
        "s a node may be lost before re-replication of its data starts",
    ),
    Setting("DDFS_MONITOR_INTERVAL", "float", 2, "s between checks of the node list"),
    Setting("DDFS_DELAYED_FLUSH", "float", 1, "s to batch delayed=1 tag updates"),
    Setting("DDFS_NODE_TIMEOUT", "float", 60, "s for one master -> node request"),
    Setting("DDFS_MAX_UPLOADERS", "int", 3, "concurrent uploads per node"),
    Setting("DDFS_MAX_DOWNLOADERS", "int", 3, "concurrent downloads per node"),
    Setting("DDFS_TRANSFER_QUEUE", "int", 100, "transfers that may wait for a slot"),
    Setting("DDFS_TRANSFER_WAIT", "float", 60, "s a transfer may wait for a slot"),
    Setting("DDFS_REBALANCE_MAX_BLOBS", "int", 1000, "blobs moved per GC run by rebalancing"),
    Setting("DDFS_MAX_TAG_BODY", "int", 512 * 1024 * 1024, "bytes in a tag request body"),
    Setting("DDFS_CONNECT_TIMEOUT", "float", 3, "s for the DDFS client to connect"),
    Setting("DDFS_READ_TIMEOUT", "float", 600, "s the DDFS client waits for a reply"),
)

SETTINGS: tuple[Setting, ...] = DISCO_SETTINGS + OUR_SETTINGS
BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


def defaults() -> dict[str, Any]:
    """name -> default (a literal, or a :class:`Derived` taking the settings object)."""
    return {setting.name: setting.default for setting in SETTINGS}


# ---- typed values ----------------------------------------------------------------------------

def convert(kind: str, value: Any) -> Any:
    """``value`` (a literal or an environment string) as ``kind``; ValueError if it is not."""
    if kind == "bool":
        return (
            (value.strip().lower() not in _FALSE_WORDS) if isinstance(value, str) else bool(value)
        )
    if value is None:
        return "" if kind in ("str", "path") else None
    if kind == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            return int(float(value))
    if kind == "float":
        return float(value)
    if kind == "path":
        text = str(value)
        return os.path.abspath(os.path.expanduser(text)) if text else ""
    return str(value)


def value_of(settings: Mapping[str, Any] | None, name: str) -> Any:
    """Setting ``name`` of any mapping (a plain dict in tests too), typed; the table's default
    when the mapping lacks it or holds ''."""
    kind = BY_NAME[name].kind
    raw = _raw(settings, name)
    try:
        return convert(kind, raw)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name}={raw!r} is not {_KIND_WORDS[kind]}; fix it in the "
                          "environment or the settings file") from None


_KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "a boolean", "str": "a string",
               "path": "a path"}


def _raw(settings: Mapping[str, Any] | None, name: str) -> Any:
    """The untyped value of ``name``: the mapping's, else the table's default (derived ones
    computed from the same mapping, so a plain dict derives DISCO_DATA from its DISCO_ROOT)."""
    setting = BY_NAME[name]
    raw = _lookup(settings, name)
    if raw is None or (raw == "" and setting.kind in ("int", "float")):
        default = setting.default
        raw = default(_Resolved(settings)) if isinstance(default, Derived) else default
    return raw


class _Resolved:
    """``settings[name]`` with the table's defaults filled in, for :class:`Derived` defaults."""

    def __init__(self, settings: Mapping[str, Any] | None) -> None:
        self.settings = settings

    def __getitem__(self, name: str) -> Any:
        return _raw(self.settings, name)


def _lookup(settings: Mapping[str, Any] | None, name: str) -> Any:
    if settings is None:
        return None
    try:
        return settings[name]
    except KeyError:  # a mapping that does not know the name: the table's default
        return None


def _item(config: Any, name: str) -> Any:
    """``config["DISCO_PORT"]``: the typed value by Disco's name (KeyError if not a setting)."""
    if name not in BY_NAME:
        raise KeyError(name)
    return getattr(config, name.lower())


def _get(config: Any, name: str, default: Any = None) -> Any:
    try:
        return _item(config, name)
    except KeyError:
        return default


#: the frozen typed snapshot of every setting: field names are the setting names in lower case.
#: It is also a read-only mapping by Disco's names (``config["DISCO_TLS_CA"]``,
#: ``config.get(...)``) so that the helpers servers share with the client (disco.tls,
#: disco.auth, disco.httpauth: they take any settings mapping) take a Config too; code below a
#: composition root reads attributes (``config.disco_port``), which tests/unit/test_config.py
#: checks against this table.
@functools.cache
def config_class() -> type:
    """The :data:`Config` class, made on first use: ``make_dataclass`` of ~110 frozen fields
    costs ~7 ms, which a job script that never builds a Config should not pay at import."""
    return make_dataclass(
        "Config",
        [(setting.name.lower(), Any) for setting in SETTINGS],
        frozen=True,
        namespace={"__doc__": "Every setting, typed (disco.settings_table.typed builds one).",
                   "__module__": __name__, "__getitem__": _item, "get": _get},
    )


def __getattr__(name: str) -> Any:
    if name == "Config":
        return config_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def typed(settings: Mapping[str, Any], names: Iterable[str] | None = None) -> Any:
    """A frozen :data:`Config` of ``settings`` (every setting converted to its kind);
    :class:`~disco.error.ConfigError` names a value that is not of its setting's kind.

    Built once in a process's composition root; settings other helpers' code adds to the table
    appear here without further change."""
    chosen = set(BY_NAME if names is None else names)
    return config_class()(**{setting.name.lower(): (value_of(settings, setting.name)
                                            if setting.name in chosen else None)
                     for setting in SETTINGS})


def config_of(settings: Any) -> Any:
    """``settings`` as a :data:`Config`: itself if it is one, else :func:`typed` of it (a
    DiscoSettings, or a plain dict in tests). For the entry points that accept either."""
    return settings if isinstance(settings, config_class()) else typed(settings)


# ---- rendering -------------------------------------------------------------------------------

def markdown() -> str:
    """docs/settings.md: the table of every setting."""
    lines = [
        "# Settings",
        "",
        "Generated from `disco/settings_table.py` (`python -m disco.settings_table`); "
        "tests/unit/test_settings_table.py checks that this file matches it. Resolution: "
        "explicit item > environment > settings file > the default below (docs/architecture.md).",
        "",
        "The servers read each setting as an attribute of their typed Config, named in lower "
        "case (`config.disco_port`; docs/architecture.md, \"One typed Config per process\", "
        "also says how to add a setting).",
        "",
    ]
    for title, rows in (("Disco's settings", DISCO_SETTINGS), ("Our settings", OUR_SETTINGS)):
        lines += [f"## {title}", "", "| setting | type | default | meaning |", "|---|---|---|---|"]
        lines += [f"| {s.name} | {s.kind} | `{s.shown_default()}` | {s.help} |" for s in rows]
        lines.append("")
    return "\n".join(lines)


def rows(settings: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The table as JSON-ready rows (the UI's settings page); with ``settings``, each row's
    current ``value`` too, secrets (tokens, passwords) masked."""
    found = []
    for s in SETTINGS:
        row = {"name": s.name, "type": s.kind, "default": s.shown_default(), "help": s.help,
               "disco": s.disco}
        if settings is not None:
            value = _lookup(settings, s.name)
            row["value"] = "***" if value and is_secret(s.name) else value
        found.append(row)
    return found


def is_secret(name: str) -> bool:
    """A setting whose value must not be shown (a file naming a secret is not one)."""
    return not name.endswith("_FILE") and any(
        word in name for word in ("TOKEN", "SECRET", "PASSWORD", "KEY"))


if __name__ == "__main__":
    print(markdown(), end="")
