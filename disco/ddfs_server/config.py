"""DDFS's knobs: a typed, frozen object taken from the process's Config (layer 1).

Disco's settings keep their names and meanings; ours (every interval, limit and grace period of
DDFS) are listed in docs/settings.md. Values and defaults come from the typed
:data:`disco.settings_table.Config` (the table is the only source of defaults); DdfsConfig names
the subset DDFS uses, so its parts (tag store, GC, node) take only what they need.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from disco.settings_table import typed


@dataclass(frozen=True)
class DdfsConfig:
    """Every DDFS knob; field names are the setting names in lower case (help: the table)."""

    ddfs_blob_replicas: int
    ddfs_tag_replicas: int
    ddfs_tag_min_replicas: int
    ddfs_space_aware: bool
    ddfs_absolute_space: bool
    ddfs_paranoid_delete: bool
    ddfs_put_port: int
    disco_port: int
    ddfs_gc_initial_wait: float
    ddfs_gc_interval: float
    ddfs_gc_balance_threshold: float
    ddfs_orphan_grace: float
    ddfs_partial_grace: float
    ddfs_deleted_grace: float
    ddfs_node_loss_grace: float
    ddfs_monitor_interval: float
    ddfs_delayed_flush: float
    ddfs_node_timeout: float
    ddfs_max_uploaders: int
    ddfs_max_downloaders: int
    ddfs_transfer_queue: int
    ddfs_transfer_wait: float
    ddfs_rebalance_max_blobs: int
    ddfs_max_tag_body: int
    disco_http_idle_timeout: float

    @classmethod
    def from_config(cls, config: Any) -> "DdfsConfig":
        """The DDFS fields of a typed Config (field names are its attribute names)."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})


def config_from_mapping(values: Mapping[str, Any]) -> DdfsConfig:
    """From a plain mapping of settings (tests): missing or '' values get the table's default."""
    return DdfsConfig.from_config(typed(dict(values)))
