"""Which machine a host name is on (layer 0).

The master and a node must agree on whether the node is co-located with the master (the master
then serves that host's files on DISCO_PORT, and the node does not bind it), so both ask
:func:`co_located`. Lookups are cached: names are resolved once per process.
"""
from __future__ import annotations

import contextlib
import functools
import socket
from urllib.parse import urlsplit


@functools.lru_cache(maxsize=256)
def resolve(host: str) -> frozenset[str]:
    """The IPv4 addresses ``host`` resolves to (empty if it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return frozenset()
    return frozenset(info[4][0] for info in infos)


@functools.lru_cache(maxsize=1)
def local_addresses() -> frozenset[str]:
    """The addresses of this machine's names (plus the wildcard and loopback)."""
    addresses = {"127.0.0.1", "0.0.0.0"}
    for name in (socket.gethostname(), socket.getfqdn()):
        with contextlib.suppress(OSError):
            addresses.update(socket.gethostbyname_ex(name)[2])
    return frozenset(addresses)


def is_local(host: str) -> bool:
    """True when ``host`` is an address of this machine (any 127.x.y.z or a local interface)."""
    return any(address.startswith("127.") or address in local_addresses()
               for address in resolve(host))


def co_located(host: str, master_host: str) -> bool:
    """True when ``host`` resolves to an address of ``master_host``: that node shares the
    master's DISCO_PORT (the master serves its files)."""
    return host == master_host or bool(resolve(host) & resolve(master_host))


def master_host_of(url: str) -> str | None:
    """The host name of the master URL ``url`` (``http://`` assumed when it has no scheme)."""
    return urlsplit(url if "://" in url else "http://" + url).hostname
