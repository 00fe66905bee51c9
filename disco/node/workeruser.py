"""Workers as another user (``DISCO_WORKER_USER``; docs/security-hardening.md "Worker user").

When the node runs as root and ``DISCO_WORKER_USER`` names a user, every worker process runs
as that user's uid, with its primary group and no supplementary groups, so it cannot read
what the node keeps private (the secret file, 0600 root; the node's own files) nor write the
DDFS store. With ``DISCO_WORKER_UIDS=first-last`` each job gets a uid of its own from that
range (with the worker user's group): the jobs then cannot read one another's files either.

The node makes the job home belong to the job's uid, mode 0700, before its first worker
starts; the uid of a job home found on disk (a node restart) is read back from its owner.
Workers are then exec'd, never forked from the node's pre-imported fork server (a zygote
imports job code before forking, which must not happen as root).
"""
from __future__ import annotations

import glob
import logging
import os
import pwd
import threading
from dataclasses import dataclass
from typing import Any

from disco.error import ConfigError

log = logging.getLogger(__name__)


class WorkerUserError(ConfigError):
    """DISCO_WORKER_USER or DISCO_WORKER_UIDS cannot be used as configured."""


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int


class WorkerUsers:
    """Which uid/gid runs the workers of a job home; prepares the job home for it."""

    def __init__(self, base: Identity, uids: range | None = None) -> None:
        self.base, self.uids = base, uids
        self._by_home: dict[str, int] = {}
        self._lock = threading.Lock()  # identity() runs in threads: one job, one uid

    def identity(self, home: str) -> Identity:
        """The identity a worker in job home `home` runs as (the job home is made its own)."""
        with self._lock:
            return Identity(self._uid_for(home), self.base.gid)

    def _uid_for(self, home: str) -> int:
        uid = self._by_home.get(home)
        if uid is None:
            uid = self._uid_of_existing(home)
            if uid is None:
                self._scan_once(os.path.dirname(os.path.dirname(home)))
                uid = self._allocate()
            _give_tree(home, uid, self.base.gid)
            self._by_home[home] = uid
        return uid

    def forget(self, home: str) -> None:
        """The job home is gone (purged): its uid may serve another job."""
        with self._lock:
            self._by_home.pop(home, None)

    def _scan_once(self, host_dir: str) -> None:
        """Count the uids of job homes already on disk (an earlier run of the node) as used,
        so a new job never gets the uid that owns an old job's files."""
        if self.uids is None or getattr(self, "_scanned", False):
            return
        self._scanned = True
        for home in glob.glob(os.path.join(glob.escape(host_dir), "*", "*")):
            try:
                owner = os.stat(home).st_uid
            except OSError:
                continue
            if owner in self.uids:
                self._by_home.setdefault(home, owner)

    def _uid_of_existing(self, home: str) -> int | None:
        owner = os.stat(home).st_uid
        if owner == self.base.uid and self.uids is None:
            return owner
        if self.uids is not None and owner in self.uids:
            return owner
        return None

    def _allocate(self) -> int:
        if self.uids is None:
            return self.base.uid
        used = set(self._by_home.values())
        for uid in self.uids:
            if uid not in used:
                return uid
        raise WorkerUserError(f"every uid of DISCO_WORKER_UIDS ({self.uids.start}-"
                              f"{self.uids.stop - 1}) is in use by a job; widen the range")


def _give_tree(home: str, uid: int, gid: int) -> None:
    """chown the job home to the job's uid; the top directory 0700 keeps others out."""
    for directory, _dirs, files in os.walk(home):
        os.chown(directory, uid, gid)
        for name in files:
            os.chown(os.path.join(directory, name), uid, gid, follow_symlinks=False)
    os.chmod(home, 0o700)


def from_config(config: Any) -> WorkerUsers | None:
    """The node's worker users (from its typed Config), or None to run workers as the node's
    own user."""
    name = config.disco_worker_user
    if not name:
        return None
    if os.geteuid() != 0:
        log.warning("DISCO_WORKER_USER=%s is ignored: the node does not run as root, so its "
                    "workers run as the node's own user", name)
        return None
    base = lookup(name)
    if base.uid == 0:
        raise WorkerUserError("DISCO_WORKER_USER must name an unprivileged user, not root")
    return WorkerUsers(base, parse_uids(config.disco_worker_uids))


def lookup(name: str) -> Identity:
    try:
        entry = pwd.getpwnam(name) if not name.isdigit() else pwd.getpwuid(int(name))
    except KeyError:
        raise WorkerUserError(f"DISCO_WORKER_USER={name}: no such user on this node; "
                              "create it (useradd --system --no-create-home NAME)") from None
    return Identity(entry.pw_uid, entry.pw_gid)


def parse_uids(text: str) -> range | None:
    """``"first-last"`` -> range(first, last + 1); '' -> None."""
    if not text:
        return None
    first, sep, last = text.partition("-")
    try:
        uids = range(int(first), int(last) + 1)
    except ValueError:
        uids = range(0)
    if not sep or len(uids) == 0 or uids.start <= 0:
        raise WorkerUserError(f"DISCO_WORKER_UIDS={text!r}: expected 'first-last', e.g. "
                              "'200000-200999' (uids no user of this machine has)")
    return uids
