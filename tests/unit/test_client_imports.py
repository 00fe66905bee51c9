"""A job script's `from disco.core import Job, result_iterator` imports only what a job needs:
the modules only some calls use are imported on first use (docs/benchmarks.md "Seventh
round"), and Disco's names that stand for them still work."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(60)

#: imported on first use: a DDFS push (thread pool), `tarblobs`, the disk sort and external
#: programs, and `disco.compat`'s Disco names for the standard library's HTTP server
LAZY = ("concurrent.futures.thread", "tarfile", "subprocess", "http.server", "socketserver")


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=50)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_a_job_script_import_leaves_the_lazy_modules_out():
    loaded = modules_after("from disco.core import Job, result_iterator, Disco")
    assert {"disco.job", "disco.results", "disco.client"} <= loaded
    assert not loaded & set(LAZY), sorted(loaded & set(LAZY))


def test_disco_compat_names_import_their_modules_on_first_use():
    loaded = modules_after("from disco.compat import *\n"
                           "assert http_server.HTTPServer and socket_server.TCPServer\n"
                           "assert httplib.HTTPConnection and urlencode({'a': 1}) == 'a=1'")
    assert {"http.server", "socketserver"} <= loaded


def test_an_unknown_compat_name_is_an_attribute_error():
    import disco.compat
    with pytest.raises(AttributeError, match="no_such_name"):
        disco.compat.no_such_name  # noqa: B018
