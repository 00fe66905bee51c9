"""When the node may fork a Python worker from the pre-imported fork server."""
from __future__ import annotations

import pytest

from disco.node.forkserver import forkable_env, is_python_worker

pytestmark = pytest.mark.timeout(10)


def test_marker_on_second_line(tmp_path):
    marked = tmp_path / "disco-worker"
    marked.write_text("#!/usr/bin/env python3\n# disco-python-worker\nimport x\n")
    plain = tmp_path / "job"
    plain.write_text("#!/bin/sh\necho\n# disco-python-worker\n")
    assert is_python_worker(str(marked))
    assert not is_python_worker(str(plain))
    assert not is_python_worker(str(tmp_path / "missing"))


def test_startup_variables_force_exec(tmp_path):
    server = {"PATH": "/bin"}
    assert forkable_env({"PATH": "/x", "PYTHONPATH": "lib"}, server, str(tmp_path))
    assert not forkable_env({"PYTHONHASHSEED": "0"}, server, str(tmp_path))
    assert forkable_env({"LD_LIBRARY_PATH": "lib"}, server, str(tmp_path))  # no lib dir
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helper.py").write_text("")
    assert forkable_env({"LD_LIBRARY_PATH": "lib"}, server, str(tmp_path))
    (tmp_path / "lib" / "libfoo.so").write_bytes(b"")
    assert not forkable_env({"LD_LIBRARY_PATH": "lib"}, server, str(tmp_path))
