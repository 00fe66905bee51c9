"""Disco 0.5.4's own client library, ready to run beside our cluster (tests/compat and
tests/security use it).

`disco_lib` (a module-scoped fixture, in the conftests that import it) copies the library
(``../shared/disco-0.5.4/lib``, or beside DISCO_COMPAT_TESTS) to a temporary directory with
the two Python 3.8+ line fixes its README names; `run_with_disco_lib` runs a script with it
first on ``PYTHONPATH``.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping

import pytest

from tests.compat import suite

#: The two lines Disco's README says to fix for Python 3.8+.
LINE_FIXES = {"disco/util.py": ("len(object) is 2", "len(object) == 2"),
              "disco/sysutil.py": ('find_library("libc")', 'find_library("c")')}


@pytest.fixture(scope="module")
def disco_lib(tmp_path_factory) -> Path:
    tests = suite.tests_dir()
    source = tests.parent / "lib" if tests else None
    if source is None or not (source / "disco" / "core.py").is_file():
        pytest.skip("Disco 0.5.4's client library is not here (../shared/disco-0.5.4/lib)")
    lib = tmp_path_factory.mktemp("disco-0.5.4") / "lib"
    shutil.copytree(source, lib, ignore=shutil.ignore_patterns("__pycache__"))
    for relative, (old, new) in LINE_FIXES.items():
        path = lib / relative
        text = path.read_text()
        assert old in text, f"{relative} no longer has {old!r}"
        path.write_text(text.replace(old, new))
    return lib


def run_with_disco_lib(env: Mapping[str, str], lib: Path, script_dir: Path,
                       *args: str) -> subprocess.CompletedProcess:
    """Run ``python *args`` in `script_dir` with `env` (a cluster's client environment) and
    Disco's library first on the path."""
    env = {**env, "PYTHONPATH": f"{lib}:{script_dir}", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, *args], cwd=script_dir, env=env,
                          capture_output=True, text=True, timeout=200)
