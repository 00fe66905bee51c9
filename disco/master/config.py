"""The cluster config table (``DISCO_MASTER_CONFIG``): hosts, max workers and blacklists.

File format, as Disco's ``disco_config.erl`` writes it::

    {"hosts": [[host_spec, "max_workers"], ...], "blacklist": [host, ...], "gc_blacklist": [...]}

A plain list (``[[spec, "n"], ...]``, what ``disco.settings.ensuredirs`` writes) is accepted as
the hosts table. A ``host_spec`` is a hostname or a range ``prefixNN:MM`` expanded zero-padded to
the width of ``MM`` (``node01:03`` -> node01, node02, node03). Saving a table with a host twice
fails with ``duplicate nodes``; a malformed table with ``invalid config``. Saving prunes the
blacklists of hosts no longer in the table.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any

from disco.error import RequestError

log = logging.getLogger(__name__)


class ConfigTableError(RequestError):
    """A config table Disco would reject; the message is Disco's reply text (400)."""


def expand_spec(spec: str) -> list[str]:
    """Expand one host spec (``name`` or ``prefixNN:MM``) to host names."""
    parts = spec.strip().split(":")
    if len(parts) == 1 and parts[0]:
        return [parts[0]]
    if len(parts) != 2 or not parts[1].isdigit() or not parts[0]:
        raise ConfigTableError("invalid config")
    first, last = parts
    width = len(last)
    if len(first) < width or not first[-width:].isdigit():
        raise ConfigTableError("invalid config")
    name, start, stop = first[:-width], int(first[-width:]), int(last)
    if stop < start:
        raise ConfigTableError("invalid config")
    return [f"{name}{i:0{width}d}" for i in range(start, stop + 1)]


def parse_table(raw: Any) -> dict[str, int]:
    """``{host: max_workers}`` of a raw table; raises `ConfigTableError`."""
    if not isinstance(raw, list):
        raise ConfigTableError("invalid config")
    hosts: dict[str, int] = {}
    for row in raw:
        if (not isinstance(row, list) or len(row) != 2 or not isinstance(row[0], str)
                or not isinstance(row[1], (str, int)) or isinstance(row[1], bool)):
            raise ConfigTableError("invalid config")
        try:
            workers = int(str(row[1]).strip())
        except ValueError:
            raise ConfigTableError("invalid config") from None
        if workers < 0:
            raise ConfigTableError("invalid config")
        for host in expand_spec(row[0]):
            if host in hosts:
                raise ConfigTableError("duplicate nodes")
            hosts[host] = workers
    return hosts


class ConfigFile:
    """Reads and writes the config table file; every change is written at once."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> dict[str, list]:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            data = []
        except ValueError as exc:
            log.error("config table %s is not JSON (%s); using an empty table", self.path, exc)
            data = []
        if isinstance(data, list):
            data = {"hosts": data}
        return {"hosts": list(data.get("hosts") or []),
                "blacklist": list(data.get("blacklist") or []),
                "gc_blacklist": list(data.get("gc_blacklist") or [])}

    def raw_hosts(self) -> list:
        return self.load()["hosts"]

    def hosts(self) -> dict[str, int]:
        try:
            return parse_table(self.raw_hosts())
        except ConfigTableError as exc:
            log.error("config table %s: %s; using an empty table", self.path, exc)
            return {}

    def save_table(self, raw: Any) -> dict[str, int]:
        """Validate and save a new hosts table; returns the expanded hosts."""
        hosts = parse_table(raw)
        config = self.load()
        config["hosts"] = [[str(spec), str(n)] for spec, n in raw]
        for key in ("blacklist", "gc_blacklist"):
            config[key] = sorted(h for h in config[key] if h in hosts)
        self._write(config)
        return hosts

    def set_listed(self, key: str, host: str, listed: bool) -> None:
        """Add `host` to (or remove it from) the ``blacklist``/``gc_blacklist``."""
        config = self.load()
        names = set(config[key])
        if listed:
            names.add(host)
        else:
            names.discard(host)
        config[key] = sorted(names)
        self._write(config)

    def _write(self, config: dict) -> None:
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, exist_ok=True)
        temporary = f"{self.path}.tmp{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(config, f)
        os.replace(temporary, self.path)  # atomic: a crash never leaves half a table
