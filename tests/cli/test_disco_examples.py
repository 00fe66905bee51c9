"""Our versions of Disco's examples (examples/util, faq, datamining), run as a Disco user
runs them: scripts with bare tag names as inputs, `disco run module.Job`, a job module
called `profile`."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli.helpers import EXAMPLES, disco

pytestmark = pytest.mark.timeout(150)

PAGES = ("0 1\n1 1 2 1\n2 1 1 1\n3 1 0 0.5 1 0.5\n4 1 1 0.33 3 0.33 5 0.33\n5 1 1 0.5 4 0.5\n"
         "6 1 1 0.5 4 0.5\n7 1 1 0.5 4 0.5\n8 1 1 0.5 4 0.5\n9 1 4 1\n10 1 4 1\n")


def run_script(cluster, path, *args, cwd=None):
    done = subprocess.run([sys.executable, str(path), *args], env=cluster.client_env(),
                          capture_output=True, text=True, timeout=140, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def ddfs(cluster, *args, input=None):
    done = subprocess.run([sys.executable, "-m", "disco.cli.ddfs", *args], input=input,
                          env=cluster.client_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_page_rank_on_a_bare_tag_name(shared_cluster):
    ddfs(shared_cluster, "chunk", "examples:pages", "-", input=PAGES)
    printed = run_script(shared_cluster, EXAMPLES / "datamining" / "page_rank.py",
                         "--iterations", "10", "examples:pages")
    scores = {int(n): float(s) for n, _colon, s in (line.split() for line in
                                                    printed.splitlines())}
    # the figures of Disco's (and mrjob's) example
    assert round(scores[1], 4) == 3.3237 and round(scores[2], 4) == 3.3934
    assert round(scores[4], 4) == 0.7493 and round(scores[10], 2) == 0.15


def test_simple_innerjoin_on_a_bare_tag_name(shared_cluster, tmp_path):
    (tmp_path / "left.csv").write_text("a,1,2\nb,3\n")
    (tmp_path / "right.csv").write_text("a,x\nc,y\n")
    ddfs(shared_cluster, "push", "examples:both_sets", str(tmp_path / "left.csv"),
         str(tmp_path / "right.csv"))
    out = tmp_path / "out.csv"
    run_script(shared_cluster, EXAMPLES / "util" / "simple_innerjoin.py",
               "examples:both_sets", str(out), cwd=EXAMPLES / "util")
    rows = sorted(out.read_text().splitlines())
    assert rows[0].split(",")[0] == "a" and sorted(rows[0].split(",")[1:]) == ["1", "2", "x"]


def test_chain_example(shared_cluster):
    printed = run_script(shared_cluster, EXAMPLES / "faq" / "chain.py")
    assert printed.splitlines()[-1] == "[(10, ''), (10, '')]"


def test_profile_module_named_like_the_standard_library(shared_cluster):
    faq = EXAMPLES / "faq"
    name = disco(shared_cluster, "run", "profile.ProfileJob", "raw://hello", "raw://world",
                 cwd=faq).stdout.strip()
    disco(shared_cluster, "wait", name, cwd=faq)
    stats = disco(shared_cluster, "pstats", "-k", "cumulative", name, cwd=faq).stdout
    assert "function calls" in stats and "run_map" in stats


def test_grep_example(shared_cluster, tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("disco rocks\nnothing here\ndance co\n")
    sys.path.insert(0, str(EXAMPLES / "util"))
    try:
        from grep import Grep
        from disco.core import result_iterator
        job = Grep().run(input=[str(path)], params={"pattern": "d.*?co"})
        lines = sorted(line for _url, line in result_iterator(job.wait(timeout=120)))
    finally:
        sys.path.remove(str(EXAMPLES / "util"))
    assert lines == [b"dance co\n", b"disco rocks\n"]
