"""DDFS settings read once into a typed, frozen object (layer 1).

Disco's settings keep their names and meanings; ours (every interval, limit and grace period of
DDFS) are listed in docs/settings.md. Defaults come from the settings table
(:mod:`disco.settings_table`, the only source): a mapping that lacks a setting or holds '' gets
the table's default, so the servers work with any mapping (tests pass a plain dict).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from disco.settings_table import value_of


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
    def from_settings(cls, settings: Any) -> "DdfsConfig":
        return cls(**{f.name: value_of(settings, f.name.upper()) for f in fields(cls)})


def config_from_mapping(values: Mapping[str, Any]) -> DdfsConfig:
    return DdfsConfig.from_settings(dict(values))
