"""The `ddfs` command against an in-process DDFS cluster."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from disco.cli.ddfs import cli

pytestmark = pytest.mark.timeout(120)


def run(cluster, *args, input=None):
    env = {"DISCO_MASTER": cluster.master_url, "DISCO_PORT": str(cluster.disco_port)}
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def test_push_ls_cat_urls_rm(mini, tmp_path):
    cluster = mini()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "one.txt").write_text("one\n")
    (tmp_path / "d" / "two.txt").write_text("two\n")
    result = run(cluster, "push", "-r", "cli:t", str(tmp_path / "d"))
    assert result.exit_code == 0, result.output
    assert run(cluster, "ls", "cli:").output == "cli:t\n"
    assert sorted(run(cluster, "cat", "cli:t").output.splitlines()) == ["one", "two"]
    assert len(run(cluster, "urls", "cli:t").output.splitlines()) == 2
    assert run(cluster, "exists", "cli:t").output == "True\n"
    run(cluster, "setattr", "cli:t", "k", "v")
    assert run(cluster, "getattr", "cli:t", "k").output == "v\n"
    run(cluster, "touch", "cli:empty")
    assert run(cluster, "urls", "cli:empty").output == ""
    assert run(cluster, "rm", "cli:t").output == "deleted\n"
    result = run(cluster, "exists", "cli:t")
    assert result.output == "False\n" and result.exit_code == 1
