"""Cluster fixtures for the whole test suite (real masters and nodes; docs/testing.md).

Two tiers: an InProcessCluster (disco/testing/inprocess.py: master and nodes on one event loop
of this process, workers real subprocesses, its state checked from inside after each test)
and a LocalCluster (disco/testing/cluster.py: master and node processes).

* `cluster` -- factory (arq style): `cluster(hosts=..., workers=2, settings={...})` starts a
  fresh cluster in the test's tmp_path and returns it; every cluster started is checked for
  its invariants, stopped and checked for leaked processes at teardown. It is in-process,
  unless the test is marked `process` (it kills or freezes a node or the master, or restarts
  the master): then a LocalCluster.
* `shared_cluster` -- one 3-node cluster per pytest(-xdist) worker process, reused by every
  test that does not break anything (processes: see TIER).
* `single_node_cluster` -- one cluster per worker process in the embedded default shape:
  the master plus one co-located node, both on `localhost`.

After every test on any of them the cluster's invariants are checked (`check_invariants`).
While a test runs, the environment holds the settings of the cluster it asked for (so
`DiscoSettings()`, `Job().run()` and `disco` command lines find it). When a test fails,
the tail of the cluster's master and node logs is printed with its report.
"""
from __future__ import annotations

import os

import pytest

from disco.testing import DEFAULT_HOSTS, LocalCluster
from disco.testing.inprocess import InProcessCluster

#: Seconds a cluster may take to start (master up and every node connected).
START_TIMEOUT = 60


def pytest_configure(config):
    config.addinivalue_line("markers", "process: the test's clusters are processes (it kills, "
                            "freezes or restarts a node or the master; docs/testing.md)")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def call_failed(request) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is None or report.failed


def use_cluster_environment(monkeypatch: pytest.MonkeyPatch, cluster: LocalCluster) -> None:
    """Make the cluster's settings the process environment (client code reads it)."""
    for key in list(os.environ):
        if key.startswith(("DISCO_", "DDFS_")) and key not in cluster.env:
            monkeypatch.delenv(key)
    for key, value in cluster.env.items():
        monkeypatch.setenv(key, value)


def print_logs_if_failed(request, cluster: LocalCluster) -> None:
    if call_failed(request):
        print(f"\n{cluster!r} logs:\n{cluster.logs()}")


@pytest.fixture
def cluster(tmp_path, request, monkeypatch):
    """Factory: `cluster(hosts=DEFAULT_HOSTS, workers=2, settings=None, timeout=60)`."""
    started: list[LocalCluster] = []

    kind = cluster_kind(request)

    def start(hosts=DEFAULT_HOSTS, workers=2, settings=None, timeout=START_TIMEOUT,
              **kwargs) -> LocalCluster:
        local = kind(tmp_path / f"cluster{len(started)}", hosts=hosts,
                     workers=workers, settings=settings, **kwargs)
        started.append(local)
        local.start(timeout=timeout)
        use_cluster_environment(monkeypatch, local)
        return local

    yield start
    for local in started:
        print_logs_if_failed(request, local)
        try:
            check_invariants(local)
        finally:
            local.stop()


#: DISCO_TEST_TIER: "" (default: a test's own clusters are in-process unless it is marked
#: `process`; the shared clusters are processes: measured faster, as the shared clusters'
#: tests and an in-process cluster would contend for one interpreter), "inprocess" (the shared
#: clusters too) or "process" (every cluster a process)
TIER = os.environ.get("DISCO_TEST_TIER", "")


def cluster_kind(request) -> type[LocalCluster]:
    """The tier of a test's own cluster: in-process unless the test is marked `process`."""
    if TIER == "process" or request.node.get_closest_marker("process"):
        return LocalCluster
    return InProcessCluster


def start_session_cluster(tmp_path_factory, name: str, **kwargs) -> LocalCluster:
    # tmp_path_factory is per xdist worker, and LocalCluster picks free ports: each worker
    # process gets its own root and ports.
    kind = InProcessCluster if TIER == "inprocess" else LocalCluster
    local = kind(tmp_path_factory.mktemp(name), **kwargs)
    local.start(timeout=START_TIMEOUT)
    return local


def check_invariants(local: LocalCluster) -> None:
    """After each test: the cluster's state is consistent (no orphan workers, slot counts
    match; an in-process cluster also: no task both running and done)."""
    local.check_invariants()


def checked(local: LocalCluster) -> LocalCluster:
    """Fail at once, with the logs, if a shared cluster's master has died."""
    if local.process is not None and local.process.poll() is not None:
        pytest.fail(f"shared cluster master exited ({local.process.returncode})\n{local.logs()}")
    return local


@pytest.fixture(scope="session")
def _shared_cluster(tmp_path_factory):
    local = start_session_cluster(tmp_path_factory, "shared-cluster", hosts=DEFAULT_HOSTS)
    yield local
    local.stop()


@pytest.fixture
def shared_cluster(_shared_cluster, request, monkeypatch) -> LocalCluster:
    """The per-worker 3-node cluster (do not kill its nodes or change its config)."""
    use_cluster_environment(monkeypatch, _shared_cluster)
    yield checked(_shared_cluster)
    print_logs_if_failed(request, _shared_cluster)
    check_invariants(_shared_cluster)


@pytest.fixture(scope="session")
def _single_node_cluster(tmp_path_factory):
    local = start_session_cluster(tmp_path_factory, "single-node-cluster", hosts=("localhost",),
                                  workers=2)
    yield local
    local.stop()


@pytest.fixture
def single_node_cluster(_single_node_cluster, request, monkeypatch) -> LocalCluster:
    """The per-worker embedded-default cluster: master + co-located node on localhost."""
    use_cluster_environment(monkeypatch, _single_node_cluster)
    yield checked(_single_node_cluster)
    print_logs_if_failed(request, _single_node_cluster)
    check_invariants(_single_node_cluster)
