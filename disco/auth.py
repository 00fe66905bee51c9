"""The cluster secret: loading it, and the tokens and signatures derived from it (layer 0).

docs/security.md is the model. In short: every server of a cluster shares one secret
(``DISCO_SECRET``, or the file ``DISCO_SECRET_FILE`` readable by its owner only). The secret
itself never crosses the wire:

* clients send the **client token** ``HMAC(secret, "disco-client")`` (`client_token`), as
  ``Authorization: Bearer <token>`` (or ``X-Disco-Auth: <token>`` when the ``Authorization``
  header carries a DDFS tag token), or in a URL prefix ``/_secret/<token>/`` (Disco 0.5.4's
  own client: ``DISCO_MASTER=http://host:8989/_secret/<token>``);
* a worker gets a **job token** ``job.<name>.<HMAC(secret, "job:<name>")>`` in
  ``DISCO_JOB_TOKEN`` (`job_token`): it may read, and write to DDFS, but not submit jobs or
  change the cluster;
* the master and its nodes prove to each other they know the secret with an HMAC over each
  other's fresh nonces on the node link (`link_mac`).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from typing import Any, Mapping
from urllib.parse import urlsplit

from disco.error import ConfigError

#: the worker's environment variable carrying its job token
JOB_TOKEN_VAR = "DISCO_JOB_TOKEN"
#: the URL prefix carrying a token for clients that cannot send headers (Disco 0.5.4's)
URL_PREFIX = "/_secret/"
#: bytes of randomness in a secret made by `new_secret`
SECRET_BYTES = 32
#: what a refusal tells the client to do
HOW_TO = ("set DISCO_SECRET (or DISCO_SECRET_FILE) to the cluster's secret; Disco 0.5.4's "
          "client: DISCO_MASTER=http://host:port/_secret/<token> (`disco secret --token`)")


class SecretFileError(ConfigError):
    """The secret file is missing, empty, or readable by other users."""


# ---- loading --------------------------------------------------------------------------------

def load_secret(settings: Any) -> str | None:
    """The cluster secret: ``DISCO_SECRET``, else the contents of ``DISCO_SECRET_FILE``
    (only if that file exists; it must not be readable by group or others), else None."""
    value = settings.get("DISCO_SECRET")
    if value:
        return str(value)
    path = settings.get("DISCO_SECRET_FILE")
    if not path or not os.path.exists(path):
        return None
    return read_secret_file(str(path))


def read_secret_file(path: str) -> str:
    """The secret in `path`, after checking that only its owner can read it."""
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretFileError(f"DISCO_SECRET_FILE {path} is readable by other users (mode "
                              f"{stat.S_IMODE(mode):04o}): run `chmod 600 {path}`")
    with open(path, encoding="utf-8") as f:
        secret = f.read().strip()
    if not secret:
        raise SecretFileError(f"DISCO_SECRET_FILE {path} is empty: run `disco secret` to "
                              "write a new secret")
    return secret


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def write_secret_file(path: str, secret: str | None = None) -> str:
    """Create `path` with mode 0600 holding a new (or the given) secret; never overwrites."""
    secret = secret or new_secret()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")
    return secret


# ---- tokens ----------------------------------------------------------------------------------

def _mac(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def client_token(secret: str) -> str:
    """The bearer token of clients, nodes and the web UI cookie."""
    return _mac(secret, "disco-client")


def job_token(secret: str, job: str) -> str:
    """The token of `job`'s workers (read access, DDFS writes)."""
    return f"job.{job}.{_mac(secret, 'job:' + job)}"


def link_mac(secret: str, role: str, host: str, nonce: str) -> str:
    """`role` ("master" or "node") signs the other side's `nonce` on the link of `host`."""
    return _mac(secret, f"link:{role}:{host}:{nonce}")


def new_nonce() -> str:
    return secrets.token_hex(16)


def same(a: str, b: str) -> bool:
    """Constant-time comparison (no timing oracle on tokens)."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class Verifier:
    """What a server accepts: the client token, or a job token of any job."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.token = client_token(secret)

    def kind(self, token: str | None) -> str | None:
        """"client", "job", or None for a token that is not ours."""
        if not token:
            return None
        if same(token, self.token):
            return "client"
        if token.startswith("job."):
            job = token[4:].rpartition(".")[0]
            if job and same(token, job_token(self.secret, job)):
                return "job"
        return None


# ---- the client side -------------------------------------------------------------------------

class ClientCredential:
    """What this process sends, and to which servers: only URLs on the master's address or
    on the cluster's ports (DISCO_PORT, DDFS_PUT_PORT) get it, never another web server."""

    def __init__(self, token: str | None, master: str, ports: set[int]) -> None:
        self.token, self.ports = token, ports
        self.master = urlsplit(master if "://" in master else "http://" + master).netloc

    def for_url(self, url: str) -> str | None:
        if not self.token:
            return None
        parts = urlsplit(url)
        if parts.netloc == self.master or parts.port in self.ports:
            return self.token
        return None


_cache: dict[tuple, ClientCredential] = {}


def default_credential(environ: Mapping[str, str] | None = None) -> ClientCredential:
    """This process's credential: the client token when it knows the secret (settings),
    else the job token a node gave its worker. Cached per environment."""
    environ = os.environ if environ is None else environ
    key = tuple(environ.get(name) for name in (
        "DISCO_SECRET", "DISCO_SECRET_FILE", "DISCO_SETTINGS_FILE", "DISCO_ROOT", "DISCO_HOME",
        "DISCO_MASTER", "DISCO_PORT", "DDFS_PUT_PORT", JOB_TOKEN_VAR))
    if key not in _cache:
        _cache[key] = _find_credential(environ)
    return _cache[key]


def _find_credential(environ: Mapping[str, str]) -> ClientCredential:
    from disco.settings import DiscoSettings  # settings imports nothing of ours but error
    settings = DiscoSettings()
    # a worker uses the token its node gave it, whatever secret file its user may have
    token = environ.get(JOB_TOKEN_VAR) or None
    if token is None:
        secret = load_secret(settings)
        token = client_token(secret) if secret else None
    ports = {int(settings["DISCO_PORT"]), int(settings["DDFS_PUT_PORT"])}
    return ClientCredential(token, str(settings["DISCO_MASTER"]), ports)


def token_for(settings: Any) -> str | None:
    """The client token for `settings` (servers calling other servers), or None."""
    secret = load_secret(settings)
    return client_token(secret) if secret else None


def with_token(headers: Mapping[str, str] | None, token: str | None) -> dict[str, str]:
    """`headers` plus the cluster credential: ``Authorization: Bearer``, or ``X-Disco-Auth``
    when ``Authorization`` already carries a DDFS tag token."""
    headers = dict(headers or {})
    if not token:
        return headers
    if any(k.lower() == "authorization" for k in headers):
        headers["X-Disco-Auth"] = token
    else:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def client_headers(url: str, headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """`headers` for a request to `url`, with this process's credential if `url` is one of
    the cluster's servers (see `ClientCredential`)."""
    return with_token(headers, default_credential().for_url(url))


# ---- bind addresses --------------------------------------------------------------------------

class SecretRequired(ConfigError):
    """A server would listen beyond loopback while the cluster has no secret."""


def is_loopback(host: str) -> bool:
    """True if every address `host` resolves to is a loopback address (an unresolvable
    host is not: it will resolve to something else on another machine)."""
    import ipaddress
    import socket
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback
                                   for a in addresses)


def exposed_hosts(hosts: list[str]) -> list[str]:
    return [host for host in hosts if not is_loopback(host)]


def require_secret(settings: Any, hosts: list[str]) -> None:
    """Raise `SecretRequired` if one of `hosts` (the master's and the nodes' bind
    addresses) is beyond loopback and the cluster has no secret."""
    exposed = exposed_hosts(hosts)
    if not exposed or load_secret(settings):
        return
    path = settings.get("DISCO_SECRET_FILE") or "~/.disco-secret"
    raise SecretRequired(
        f"{', '.join(exposed)} {'is' if len(exposed) == 1 else 'are'} not a loopback address: "
        f"a cluster reachable from the network needs a secret. Run `disco secret` (it writes "
        f"DISCO_SECRET_FILE={path}, mode 0600) and put the same file on every node, or set "
        "DISCO_SECRET; docs/security.md")
