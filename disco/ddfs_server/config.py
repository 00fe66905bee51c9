"""DDFS settings read once into a typed, frozen object (layer 1).

Disco's settings keep their names and meanings; ours (every interval, limit and grace period of
DDFS) are listed in docs/ddfs.md.  Missing or empty values fall back to the defaults here, so the
servers work with any mapping (tests pass a plain dict).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

DAY = 24 * 3600


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off", "none")
    return bool(value)


@dataclass(frozen=True)
class DdfsConfig:
    """Every DDFS knob; field names are the setting names in lower case."""

    ddfs_blob_replicas: int = 1
    ddfs_tag_replicas: int = 1
    ddfs_tag_min_replicas: int = 1
    ddfs_space_aware: bool = False
    ddfs_absolute_space: bool = False
    ddfs_paranoid_delete: bool = False
    ddfs_put_port: int = 8990
    disco_port: int = 8989
    #: minutes before the first GC after the master starts (Disco: 5)
    ddfs_gc_initial_wait: float = 5.0
    #: seconds between periodic GC runs (Disco: one day)
    ddfs_gc_interval: float = DAY
    ddfs_gc_balance_threshold: float = 0.1
    #: seconds after which an unreferenced blob or tag file may be deleted (Disco: 5 days)
    ddfs_orphan_grace: float = 5 * DAY
    #: seconds after which a `!partial` upload is stale (Disco: 1 hour)
    ddfs_partial_grace: float = 3600
    #: seconds a `+deleted` entry is kept (Disco: 30 days)
    ddfs_deleted_grace: float = 30 * DAY
    #: seconds a node may be lost before re-replication of its data starts
    ddfs_node_loss_grace: float = 120
    #: seconds between checks of the node list (new nodes to scan, lost nodes)
    ddfs_monitor_interval: float = 2
    #: seconds to batch `delayed=1` tag updates (Disco: 1 s)
    ddfs_delayed_flush: float = 1
    #: seconds for one internal master -> node request
    ddfs_node_timeout: float = 60
    #: concurrent transfers per node and how many may queue, and for how long (s)
    ddfs_max_uploaders: int = 3
    ddfs_max_downloaders: int = 3
    ddfs_transfer_queue: int = 100
    ddfs_transfer_wait: float = 60
    #: blobs moved per GC run by rebalancing (bounds the work of one run)
    ddfs_rebalance_max_blobs: int = 1000
    #: bytes accepted in a tag request body (Disco: 512 MB)
    ddfs_max_tag_body: int = 512 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Any) -> "DdfsConfig":
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = _lookup(settings, f.name.upper())
            if raw is None or raw == "":
                continue
            cast: Callable[[Any], Any] = _bool if f.type == "bool" else (
                int if f.type == "int" else float)
            values[f.name] = cast(raw)
        return cls(**values)


def _lookup(settings: Any, name: str) -> Any:
    if settings is None:
        return None
    try:
        return settings[name]
    except KeyError:  # a settings object that does not know the name: use our default
        return None


def config_from_mapping(values: Mapping[str, Any]) -> DdfsConfig:
    return DdfsConfig.from_settings(dict(values))
