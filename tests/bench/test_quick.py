"""The benchmark suite's quick mode against a real local cluster: every workload's result is right.

Correctness only (benchmarks are not tests): the Disco jobs of bench/workloads.py run on a
LocalCluster on tiny generated inputs and each answer is checked against the plain-Python
reference, as ``python -m bench --quick`` does.
"""
import argparse

import pytest

from bench import corpus, run


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-data")
    return corpus.generate("quick", str(root), seed=7, log=lambda *a: None)


@pytest.mark.timeout(300)
def test_quick_suite_results_are_right(manifest):
    pytest.importorskip("disco.core")
    testing = pytest.importorskip("disco.testing")
    if not hasattr(testing, "LocalCluster"):
        pytest.skip("disco.testing.LocalCluster not available")
    args = argparse.Namespace(sort_mem=256, keep_jobs=False)
    failures = []
    with run.DiscoCluster(workers=2) as cluster:
        for workload in run.WORKLOADS:
            row = run.run_disco_workload(cluster, workload, manifest, args)
            if not row["ok"]:
                failures.append("%s: %s" % (workload, row["error"]))
    assert not failures, "\n".join(failures)


@pytest.mark.timeout(120)
def test_baselines_agree_with_reference(manifest):
    # the single-process baseline is the reference (computed in-process by run.reference);
    # the 2-process one and the generator's sort/join checksums must agree with it
    for workload in ("wordcount", "distinct", "join", "sort"):
        row = run.run_subprocess_impl("bench.baselines", workload, "pool2", manifest, 60)
        assert row["ok"], (workload, row["error"])
    row = run.run_subprocess_impl("bench.baselines", "sort", "single", manifest, 60)
    assert row["ok"], row["error"]


def test_corpus_is_deterministic(tmp_path):
    a = corpus.generate("quick", str(tmp_path / "a"), seed=3, log=lambda *a: None)
    b = corpus.generate("quick", str(tmp_path / "b"), seed=3, log=lambda *a: None)
    for kind in a["files"]:
        for pa, pb in zip(a["files"][kind], b["files"][kind]):
            with open(pa, "rb") as fa, open(pb, "rb") as fb:
                assert fa.read() == fb.read(), (kind, pa)
    assert a["sort"] == b["sort"] and a["join"] == b["join"]


@pytest.mark.timeout(180)
def test_user_code_floor_answers_are_right(manifest):
    # the floor runs each classic job's own functions without an engine: same answers
    for workload in run.CLASSIC:
        row = run.run_subprocess_impl("bench.floor", workload, "floor", manifest, 60)
        assert row["ok"], (workload, row["error"])
