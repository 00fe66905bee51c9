"""Where blobs and tag replicas go (pure; layer 1: no I/O, randomness passed in).

Disco's ``choose_write_nodes``: K distinct writable nodes (connected, not Disco-blacklisted, not
DDFS-blacklisted), `include` first, never `exclude`; at random among nodes with more than
DDFS_MIN_FREE_SPACE (1 GB) free, else the emptiest.  With DDFS_SPACE_AWARE the choice is
weighted by free space (DDFS_ABSOLUTE_SPACE: absolute free bytes, else the free ratio).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable, Sequence

from disco.error import DiscoError

#: Disco's threshold below which a node is only used when nothing better exists (KB)
MIN_FREE_KB = 1024 * 1024


class NotEnoughNodes(DiscoError):
    """Fewer writable nodes than requested replicas."""

    status = 403
    message = "Not enough nodes for replicas."


@dataclass(frozen=True)
class Candidate:
    """A node as placement sees it."""

    host: str
    disk_free: int = 0   # KB
    disk_used: int = 0   # KB

    @property
    def free_ratio(self) -> float:
        total = self.disk_free + self.disk_used
        return self.disk_free / total if total else 0.0


def choose_nodes(candidates: Sequence[Candidate], k: int, *, include: Iterable[str] = (),
                 exclude: Iterable[str] = (), space_aware: bool = False,
                 absolute_space: bool = False, rng: random.Random | None = None) -> list[str]:
    """Pick `k` distinct hosts; raises NotEnoughNodes when fewer than `k` are available."""
    rng = rng or random.Random()
    excluded = set(exclude)
    pool = [c for c in candidates if c.host not in excluded]
    by_host = {c.host: c for c in pool}
    chosen = [h for h in dict.fromkeys(include) if h in by_host][:k]
    rest = [c for c in pool if c.host not in chosen]
    if len(chosen) + len(rest) < k:
        raise NotEnoughNodes(NotEnoughNodes.message)
    need = k - len(chosen)
    if space_aware:
        chosen += _weighted_sample(rest, need, absolute_space, rng)
    else:
        chosen += _random_sample(rest, need, rng)
    return chosen


def _random_sample(pool: list[Candidate], k: int, rng: random.Random) -> list[str]:
    roomy = [c for c in pool if c.disk_free > MIN_FREE_KB]
    picked = rng.sample(roomy, min(k, len(roomy)))
    if len(picked) < k:
        # not enough roomy nodes: fill with the emptiest of the others, as Disco does
        others = sorted((c for c in pool if c not in picked), key=lambda c: -c.disk_free)
        picked += others[:k - len(picked)]
    return [c.host for c in picked]


def _weighted_sample(pool: list[Candidate], k: int, absolute: bool,
                     rng: random.Random) -> list[str]:
    remaining = list(pool)
    picked: list[str] = []
    for _ in range(k):
        weights = [max(c.disk_free if absolute else c.free_ratio, 1e-9) for c in remaining]
        choice = rng.choices(range(len(remaining)), weights=weights)[0]
        picked.append(remaining.pop(choice).host)
    return picked


def utilisation(c: Candidate) -> float:
    total = c.disk_free + c.disk_used
    return c.disk_used / total if total else 0.0


def rebalance_sources(
    candidates: Sequence[Candidate], threshold: float
) -> tuple[list[str], list[str]]:
    """Hosts above average utilisation + threshold (sources) and below average (targets)."""
    if len(candidates) < 2:
        return [], []
    average = sum(utilisation(c) for c in candidates) / len(candidates)
    over = [c.host for c in candidates if utilisation(c) > average + threshold]
    under = [c.host for c in candidates if utilisation(c) < average]
    return over, under
