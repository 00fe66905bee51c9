"""Helpers shared by the CLI tests: running `disco`, building the C worker."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from disco.testing import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
C_WORKER_SOURCE = EXAMPLES / "c_worker" / "worker.c"


def disco(cluster, *args, input=None, timeout=60, cwd=None, check=True):
    """Run `disco ARGS` against `cluster`; with check, fail with its output unless exit 0."""
    result = run_cli(*args, env=cluster.client_env(), input=input, timeout=timeout, cwd=cwd)
    if check and result.returncode != 0:
        pytest.fail(f"disco {' '.join(args)} exited {result.returncode}\n"
                    f"stdout: {result.stdout}\nstderr: {result.stderr}")
    return result


def build_c_worker(directory: Path) -> Path:
    """Compile examples/c_worker/worker.c with the documented command."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler")
    target = directory / "worker"
    subprocess.run([compiler, "-O2", "-o", str(target), str(C_WORKER_SOURCE)],
                   check=True, timeout=120, capture_output=True)
    assert os.access(target, os.X_OK)
    return target
