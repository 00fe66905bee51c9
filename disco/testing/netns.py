"""`NetnsCluster`: a Disco cluster of real hosts made of Linux network namespaces (tests).

Layer: top (`disco.testing`). Each host is a network namespace with its own address on a
private bridge (TEST-NET-1 addresses from ``192.0.2.128/25``, assigned inside the namespaces
only: no address of that range is put on any interface of the machine's own namespace, and
the namespaces have no default route, so no packet can leave them), its own ``/etc/hosts``
(``ip netns exec`` binds ``/etc/netns/<ns>/hosts``: ``master``, ``node1``, ...), and its own
directories (``DISCO_ROOT`` = ``<root>/hosts/<name>``; the settings file the host's sshd
hands to its sessions names it), so no node can read another's files: every byte between
hosts goes over HTTP.

The master runs in namespace ``master`` with a config table naming the node hosts; it starts
every node **over ssh**, exactly as for a user's table: Debian's ``sshd`` runs in each node
namespace with a host key and an authorized client key made for the cluster, and the master's
``DISCO_SSH_OPTIONS`` point ssh at that key.

Faults for the chaos suite: `link_down`/`link_up` (the host's veth on the bridge: its packets
are dropped, connections hang as on a cut cable), `signal_node` (SIGKILL/SIGSTOP/SIGCONT the
node process and its workers), `fill_disk` (the host's data disk, holding ``DISCO_DATA`` and
``DDFS_DATA``, is a size-limited tmpfs when `disk_mb` is given). Client code runs inside the
master namespace (`run`, `python`).

Needs root, ``ip`` (iproute2) with veth and bridge support, and ``/usr/sbin/sshd``;
`unavailable()` says which is missing.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from disco import auth
from disco.testing.cluster import FAST_SETTINGS, ClusterError, descendants, poll_for
from disco.sysutil import node_process_of

log = logging.getLogger(__name__)

SSHD = "/usr/sbin/sshd"
#: the first address of the test hosts' subnet (the machine's eth0 may hold 192.0.2.2/24)
SUBNET_BASE = 128
PREFIX_LEN = 25
#: settings every host of a namespace cluster gets (on top of FAST_SETTINGS)
NETNS_SETTINGS: dict[str, Any] = {
    "DISCO_PORT": 8989,          # each namespace has its own ports: Disco's defaults
    "DDFS_PUT_PORT": 8990,
    "DISCO_NODE_RESTART_DELAY": 1,
    "DISCO_NODE_TIMEOUT": 6,
    "DDFS_NODE_TIMEOUT": 6,
}


#: a client in the master namespace: the node info, with the cluster's credential if any
NODEINFO = """import json, urllib.request
from disco import auth
url = {url!r}
request = urllib.request.Request(url, headers=auth.client_headers(url))
print(json.dumps(json.load(urllib.request.urlopen(request, timeout=5))))"""


def unavailable() -> str | None:
    """Why namespace hosts cannot be made here, or None when they can."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if not os.path.exists(SSHD):
        return f"{SSHD} is missing (apt-get install openssh-server)"
    if shutil.which("ssh-keygen") is None or shutil.which("ssh") is None:
        return "the ssh client is missing (apt-get install openssh-client)"
    probe = f"dprobe{secrets.token_hex(2)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    try:
        veth = subprocess.run(["ip", "link", "add", f"{probe}a", "type", "veth", "peer", "name",
                               f"{probe}b"], capture_output=True, text=True)
        if veth.returncode:
            return f"cannot create a veth pair: {veth.stderr.strip()}"
        subprocess.run(["ip", "link", "del", f"{probe}a"], capture_output=True)
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def sh(*argv: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run a command of the fixture (ip, ssh-keygen, mount); raise with its stderr."""
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode:
        raise ClusterError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@dataclass
class Host:
    """One namespace host."""
    name: str          # host name (in every namespace's /etc/hosts) and config-table entry
    address: str
    netns: str
    veth: str          # the machine-side end of its veth pair (on the bridge)
    root: str          # its DISCO_ROOT
    disk_mb: int = 0   # DDFS_DATA is a tmpfs of this size (0: a plain directory)
    sshd: subprocess.Popen | None = None

    @property
    def settings_file(self) -> str:
        return os.path.join(self.root, "settings.py")

    @property
    def disk(self) -> str:
        """The host's data disk (DISCO_DATA and DDFS_DATA): a tmpfs of `disk_mb` if given."""
        return os.path.join(self.root, "disk")

    @property
    def ddfs_data(self) -> str:
        return os.path.join(self.disk, "ddfs")

    @property
    def disco_data(self) -> str:
        return os.path.join(self.disk, "data")

    @property
    def pid_dir(self) -> str:
        return os.path.join(self.root, "run")

    @property
    def log_dir(self) -> str:
        return os.path.join(self.root, "log")


class NetnsCluster:
    """A master host and `nodes` node hosts in namespaces; nodes started over ssh."""

    def __init__(
        self,
        root: str | os.PathLike,
        nodes: int = 3,
        workers: int = 2,
        settings: Mapping[str, Any] | None = None,
        disk_mb: Mapping[str, int] | None = None,
        tag: str | None = None,
        secret: str | None = None,
    ) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.workers = workers
        #: the cluster secret, written to every host's own DISCO_SECRET_FILE (docs/security.md)
        self.secret = secret
        self.tag = tag or secrets.token_hex(2)
        self.settings = {**FAST_SETTINGS, **NETNS_SETTINGS, **(settings or {})}
        self.bridge = f"dsc{self.tag}br"
        names = ["master"] + [f"node{i}" for i in range(1, nodes + 1)]
        self.hosts: dict[str, Host] = {}
        for index, name in enumerate(names):
            self.hosts[name] = Host(name, f"192.0.2.{SUBNET_BASE + 1 + index}",
                                    f"dsc{self.tag}-{name}", f"dsc{self.tag}v{index}",
                                    os.path.join(self.root, "hosts", name),
                                    (disk_mb or {}).get(name, 0))
        self.master: subprocess.Popen | None = None
        self.ssh_dir = os.path.join(self.root, "ssh")
        self._made: list[tuple[str, ...]] = []     # undo commands, run in reverse at stop
        self._mounts: list[str] = []

    # ---- names -----------------------------------------------------------------------

    @property
    def node_names(self) -> list[str]:
        return [name for name in self.hosts if name != "master"]

    @property
    def master_url(self) -> str:
        return f"http://master:{self.settings['DISCO_PORT']}"

    def client_env(self) -> dict[str, str]:
        """The environment of client code run in the master namespace."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCO_", "DDFS_"))}
        env.update({k: str(v) for k, v in self.settings.items()})
        master = self.hosts["master"]
        env.update(DISCO_MASTER_HOST="master", DISCO_MASTER=self.master_url,
                   DISCO_SETTINGS_FILE=master.settings_file, DISCO_ROOT=master.root,
                   DISCO_HOME=master.root, DISCO_PROXY="")
        return env

    # ---- building ----------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> "NetnsCluster":
        reason = unavailable()
        if reason:
            raise ClusterError(reason)
        try:
            self._make_network()
            self._make_hosts()
            self._make_ssh()
            self._start_master()
            self.wait_for_nodes(timeout=timeout)
        except BaseException:
            self.stop(check_leaks=False)
            raise
        return self

    def _undo(self, *argv: str) -> None:
        self._made.append(argv)

    def _make_network(self) -> None:
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        self._undo("ip", "link", "del", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        hosts_file = self._hosts_file()
        for host in self.hosts.values():
            etc = os.path.join("/etc/netns", host.netns)
            os.makedirs(etc, exist_ok=True)
            self._undo("rm", "-rf", etc)
            with open(os.path.join(etc, "hosts"), "w", encoding="ascii") as f:
                f.write(hosts_file)
            with open(os.path.join(etc, "resolv.conf"), "w", encoding="ascii") as f:
                f.write("# no DNS inside the test hosts: every name is in /etc/hosts\n")
            sh("ip", "netns", "add", host.netns)
            self._undo("ip", "netns", "del", host.netns)
            inner = f"{host.veth}i"
            sh("ip", "link", "add", host.veth, "type", "veth", "peer", "name", inner)
            self._undo("ip", "link", "del", host.veth)
            sh("ip", "link", "set", inner, "netns", host.netns)
            sh("ip", "link", "set", host.veth, "master", self.bridge)
            sh("ip", "link", "set", host.veth, "up")
            for command in (["ip", "link", "set", "lo", "up"],
                            ["ip", "link", "set", inner, "name", "eth0"],
                            ["ip", "addr", "add", f"{host.address}/{PREFIX_LEN}", "dev", "eth0"],
                            ["ip", "link", "set", "eth0", "up"]):
                sh("ip", "netns", "exec", host.netns, *command)

    def _hosts_file(self) -> str:
        lines = ["127.0.0.1 localhost", f"127.0.1.1 {socket.gethostname()}"]
        lines += [f"{h.address} {h.name}" for h in self.hosts.values()]
        return "\n".join(lines) + "\n"

    def _make_hosts(self) -> None:
        for host in self.hosts.values():
            os.makedirs(host.disk, exist_ok=True)
            if host.disk_mb:
                sh("mount", "-t", "tmpfs", "-o", f"size={host.disk_mb}m", "tmpfs", host.disk)
                self._mounts.append(host.disk)
            for path in (host.ddfs_data, host.disco_data):
                os.makedirs(path, exist_ok=True)
            with open(host.settings_file, "w", encoding="utf-8") as f:
                f.write(f"# the machine-local settings of test host {host.name}\n"
                        f"DISCO_HOME = {host.root!r}\nDISCO_ROOT = {host.root!r}\n"
                        f"DISCO_DATA = {host.disco_data!r}\nDDFS_DATA = {host.ddfs_data!r}\n")
            if self.secret:
                auth.write_secret_file(os.path.join(host.root, "secret"), self.secret)

    def _make_ssh(self) -> None:
        os.makedirs(self.ssh_dir, mode=0o700, exist_ok=True)
        client_key = os.path.join(self.ssh_dir, "client_key")
        host_key = os.path.join(self.ssh_dir, "host_key")
        for key in (client_key, host_key):
            if not os.path.exists(key):
                sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
        authorized = os.path.join(self.ssh_dir, "authorized_keys")
        shutil.copyfile(client_key + ".pub", authorized)
        os.makedirs("/run/sshd", exist_ok=True)   # sshd's privilege separation directory
        for name in self.node_names:
            host = self.hosts[name]
            config = os.path.join(self.ssh_dir, f"sshd_{name}.conf")
            with open(config, "w", encoding="ascii") as f:
                f.write(f"ListenAddress {host.address}\nPort 22\nHostKey {host_key}\n"
                        f"AuthorizedKeysFile {authorized}\nPermitRootLogin prohibit-password\n"
                        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                        "UsePAM no\nStrictModes no\nPrintMotd no\n"
                        # sessions cut off by a link failure end within 6 s
                        "ClientAliveInterval 2\nClientAliveCountMax 3\n"
                        f"PidFile {os.path.join(self.ssh_dir, f'sshd_{name}.pid')}\n"
                        # the machine-local settings of this host, as /etc/disco/settings.py
                        # would give them on a real machine
                        f"SetEnv DISCO_SETTINGS_FILE={host.settings_file}\n")
            log_file = os.path.join(self.ssh_dir, f"sshd_{name}.log")
            host.sshd = subprocess.Popen(
                ["ip", "netns", "exec", host.netns, SSHD, "-D", "-f", config, "-E", log_file],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        known = os.path.join(self.ssh_dir, "known_hosts")
        self.settings["DISCO_SSH_OPTIONS"] = (
            f"-i {client_key} -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={known} "
            "-o ConnectTimeout=5 -o ServerAliveInterval=2 -o ServerAliveCountMax=3 "
            "-o LogLevel=ERROR")
        for name in self.node_names:
            poll_for(lambda n=name: self._sshd_answers(n), 20,
                     message=f"sshd on {name} did not start: {self._tail(log_file)}")

    def _sshd_answers(self, name: str) -> bool:
        probe = self.in_netns("master", ["ssh", "-o", "BatchMode=yes",
                                         *self.settings["DISCO_SSH_OPTIONS"].split(), name,
                                         "true"], timeout=15, check=False)
        return probe.returncode == 0

    def _start_master(self) -> None:
        master = self.hosts["master"]
        os.makedirs(master.log_dir, exist_ok=True)
        table = [[name, str(self.workers)] for name in self.node_names]
        config = os.path.join(master.root, "disco.config")
        with open(config, "w", encoding="utf-8") as f:
            json.dump({"hosts": table}, f)
        env = self.client_env()
        env["DISCO_MASTER_CONFIG"] = config
        self.settings["DISCO_MASTER_CONFIG"] = config
        with open(os.path.join(master.log_dir, "master.out"), "ab") as out:
            self.master = subprocess.Popen(
                ["ip", "netns", "exec", master.netns, sys.executable, "-m", "disco", "master"],
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=master.root, start_new_session=True)

    # ---- running things inside ---------------------------------------------------------

    def in_netns(self, host: str, argv: list[str], timeout: float = 60.0, check: bool = True,
                 env: Mapping[str, str] | None = None,
                 input: str | None = None) -> subprocess.CompletedProcess:
        """Run `argv` inside `host`'s namespace (client environment by default)."""
        done = subprocess.run(["ip", "netns", "exec", self.hosts[host].netns, *argv],
                              capture_output=True, text=True, timeout=timeout, input=input,
                              env=dict(env or self.client_env()), cwd=self.root)
        if check and done.returncode:
            raise ClusterError(f"{' '.join(argv)} in {host} failed ({done.returncode}):\n"
                               f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done

    def run(self, *argv: str, timeout: float = 120.0) -> str:
        """Run a command in the master namespace (``disco ...``, ``python -m ...``)."""
        return self.in_netns("master", list(argv), timeout=timeout).stdout

    def python(self, code: str, timeout: float = 120.0) -> Any:
        """Run Python code in the master namespace; it prints one JSON value, returned."""
        out = self.in_netns("master", [sys.executable, "-c", code], timeout=timeout).stdout
        return json.loads(out.strip().splitlines()[-1])

    def nodeinfo(self) -> dict:
        return self.python(NODEINFO.format(url=f"{self.master_url}/disco/ctrl/nodeinfo"),
                           timeout=30)

    def connected(self) -> set[str]:
        try:
            info = self.nodeinfo()
        except (ClusterError, ValueError, subprocess.TimeoutExpired):
            return set()
        return {host for host, record in info.items() if record.get("connected")}

    def wait_for_nodes(self, names: Iterable[str] | None = None, timeout: float = 90.0) -> None:
        wanted = set(names or self.node_names)
        poll_for(lambda: wanted <= self.connected(), timeout, period=0.5,
                 message=lambda: f"nodes {sorted(wanted - self.connected())} did not connect\n"
                                 f"{self.logs()}")

    # ---- processes -----------------------------------------------------------------------

    def netns_pids(self, host: str) -> list[int]:
        """Every process in `host`'s namespace."""
        out = sh("ip", "netns", "pids", self.hosts[host].netns, check=False).stdout
        return sorted(int(p) for p in out.split())

    def node_pid(self, name: str) -> int | None:
        """The pid of the node process of host `name` (from its own pid file)."""
        path = os.path.join(self.hosts[name].pid_dir, f"node-{name}.pid")
        try:
            with open(path, encoding="ascii") as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return pid if node_process_of(pid, name) else None

    def node_tree(self, name: str) -> list[int]:
        """The node process of `name` and its workers (every descendant)."""
        pid = self.node_pid(name)
        return sorted(descendants([pid])) if pid is not None else []

    def signal_node(self, name: str, sig: int, workers: bool = True) -> list[int]:
        """Send `sig` to the node process of `name` (and its workers); the pids signalled."""
        pids = self.node_tree(name) if workers else [p for p in [self.node_pid(name)] if p]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return pids

    def link_down(self, name: str) -> None:
        """Cut `name` off the bridge: its packets are dropped (connections hang)."""
        sh("ip", "link", "set", self.hosts[name].veth, "down")

    def link_up(self, name: str) -> None:
        sh("ip", "link", "set", self.hosts[name].veth, "up")

    def fill_disk(self, name: str) -> str:
        """Fill host `name`'s data disk (a tmpfs: see `disk_mb`) to the last byte."""
        host = self.hosts[name]
        if not host.disk_mb:
            raise ClusterError(f"host {name} has no size-limited disk (disk_mb)")
        path = os.path.join(host.disk, "filler")
        with open(path, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError:
                pass
        return path

    def free_disk(self, name: str) -> None:
        path = os.path.join(self.hosts[name].disk, "filler")
        if os.path.exists(path):
            os.remove(path)

    def open_fds(self, pid: int) -> int:
        try:
            return len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            return 0

    # ---- stopping ------------------------------------------------------------------------

    def stop(self, timeout: float = 30.0, check_leaks: bool = True) -> None:
        """Stop the master (which stops its nodes over ssh), then sshd, then the network.

        With `check_leaks`, raises ClusterError when a process outlived its host or a
        namespace still holds one after the master stopped.
        """
        leaks: list[str] = []
        for name in self.node_names:   # a stopped node cannot stop: let it go on first
            self.signal_node(name, signal.SIGCONT)
            if self._link_exists(name):
                self.link_up(name)
        if self.master is not None and self.master.poll() is None:
            self.master.send_signal(signal.SIGTERM)
            try:
                self.master.wait(timeout)
            except subprocess.TimeoutExpired:
                leaks.append("the master did not stop on SIGTERM")
                self.master.kill()
                self.master.wait(10)
        for name in self.node_names:
            host = self.hosts[name]
            if host.sshd is not None and host.sshd.poll() is None:
                host.sshd.terminate()
                try:
                    host.sshd.wait(10)
                except subprocess.TimeoutExpired:
                    host.sshd.kill()
        for name in self.hosts:
            try:
                left = poll_for(lambda h=name: not self.netns_pids(h), 15, period=0.1)
            except TimeoutError:
                left = False
            if not left:
                pids = self.netns_pids(name)
                leaks.append(f"{name}: processes left {self._describe(pids)}")
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        for mount in reversed(self._mounts):
            sh("umount", "-l", mount, check=False)
        self._mounts.clear()
        for argv in reversed(self._made):
            sh(*argv, check=False)
        self._made.clear()
        if check_leaks and leaks:
            raise ClusterError("; ".join(leaks))

    def _link_exists(self, name: str) -> bool:
        return sh("ip", "link", "show", self.hosts[name].veth, check=False).returncode == 0

    @staticmethod
    def _describe(pids: list[int]) -> str:
        out = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
                out.append(f"{pid}: {cmdline[:200]}")
            except OSError:
                out.append(str(pid))
        return ", ".join(out)

    # ---- logs ----------------------------------------------------------------------------

    @staticmethod
    def _tail(path: str, lines: int = 30) -> str:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def logs(self, lines: int = 30) -> str:
        parts = []
        for host in self.hosts.values():
            if not os.path.isdir(host.log_dir):
                continue
            for entry in sorted(os.listdir(host.log_dir)):
                parts.append(f"----- {host.name}: {entry} -----\n"
                             f"{self._tail(os.path.join(host.log_dir, entry), lines)}")
        return "\n".join(parts)

    def __enter__(self) -> "NetnsCluster":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

