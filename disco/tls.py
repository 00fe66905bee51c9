"""Optional TLS for the cluster's servers and clients (layer 0, stdlib only; docs/security.md).

``DISCO_TLS_CERT`` and ``DISCO_TLS_KEY`` (PEM files): the master and the nodes serve HTTPS
(and the node link runs over ``wss://``). ``DISCO_TLS_CA``: the PEM bundle clients trust
(the cluster's own CA or a self-signed certificate); empty: the system's trust store.
"""
from __future__ import annotations

import os
import ssl
from functools import lru_cache
from typing import Any

from disco.error import ConfigError


class TLSConfigError(ConfigError):
    """A certificate or key setting that names a missing or unusable file."""


def enabled(settings: Any) -> bool:
    return bool(settings.get("DISCO_TLS_CERT"))


def scheme(settings: Any) -> str:
    return "https" if enabled(settings) else "http"


def server_context(settings: Any) -> ssl.SSLContext | None:
    """The servers' context, or None without ``DISCO_TLS_CERT``."""
    if not enabled(settings):
        return None
    cert, key = str(settings.get("DISCO_TLS_CERT")), settings.get("DISCO_TLS_KEY") or None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"DISCO_TLS_CERT={cert} / DISCO_TLS_KEY={key}: cannot load the "
                             f"certificate and key: {exc}") from None
    return context


def client_context(settings: Any = None) -> ssl.SSLContext:
    """What clients verify servers with: ``DISCO_TLS_CA`` (setting or environment) or the
    system's trust store."""
    cafile = settings.get("DISCO_TLS_CA") if settings is not None else None
    return _context(cafile or os.environ.get("DISCO_TLS_CA") or None)


@lru_cache(maxsize=8)
def _context(cafile: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"DISCO_TLS_CA={cafile}: cannot load it: {exc}") from None
