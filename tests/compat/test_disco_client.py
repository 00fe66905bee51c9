"""Disco 0.5.4's own client library, with its own classic worker, against our cluster.

The library (``../shared/disco-0.5.4/lib``) is copied to a temporary directory with the two
Python 3.8+ line fixes its README names, and put first on ``PYTHONPATH`` of a script: the
job pack is built by Disco's ``Job``, the worker that runs map, map_shuffle and reduce on
our nodes is Disco's ``disco/worker/classic/worker.py`` (it travels in the job home), the
results are read with Disco's ``result_iterator``, and DDFS is used through Disco's client.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.compat import disco054

pytestmark = [pytest.mark.xdist_group("disco_compat"), pytest.mark.timeout(240)]

WORDCOUNT = '''
import sys
from disco.core import Job, result_iterator

def fun_map(line, params):
    for word in line.split():
        yield word, 1

def fun_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)

if __name__ == "__main__":
    import disco, wordcount
    assert disco.__file__.startswith(sys.argv[1]), disco.__file__
    job = Job().run(input=sys.argv[2:], map=wordcount.fun_map, reduce=wordcount.fun_reduce)
    for word, count in result_iterator(job.wait(timeout=120)):
        print(word.decode(), count)
    print("job", job.name)
'''

DDFS_SCRIPT = '''
import sys
from io import BytesIO
import disco
from disco.ddfs import DDFS
assert disco.__file__.startswith(sys.argv[1]), disco.__file__
ddfs = DDFS()
ddfs.push("disco:compat:client", [(BytesIO(b"first blob"), "one"), sys.argv[2]])
ddfs.tag("disco:compat:parent", [["tag://disco:compat:client"]])
ddfs.setattr("disco:compat:client", "origin", "disco-0.5.4")
print("exists", ddfs.exists("disco:compat:client"))
print("attr", ddfs.getattr("disco:compat:client", "origin"))
print("blobs", len(list(ddfs.blobs("disco:compat:parent"))))
print("data", sorted(f.read().decode() for f in ddfs.pull("disco:compat:client")))
print("tags", sorted(t for t in ddfs.list("disco:compat:")))
ddfs.delete("disco:compat:parent")
ddfs.delete("disco:compat:client")
print("gone", ddfs.exists("disco:compat:client"))
'''


def run_with_disco_lib(disco_suite, lib: Path, script_dir: Path, *args: str):
    _home, cluster, _reports = disco_suite
    return disco054.run_with_disco_lib(cluster.local.client_env(), lib, script_dir, *args)


def test_disco_client_and_worker_run_a_word_count(disco_suite, disco_lib, tmp_path):
    (tmp_path / "wordcount.py").write_text(textwrap.dedent(WORDCOUNT))
    for name, text in (("a.txt", "the cat\nthe dog\n"), ("b.txt", "a dog and the end\n")):
        (tmp_path / name).write_text(text)
    done = run_with_disco_lib(disco_suite, disco_lib, tmp_path, "wordcount.py", str(disco_lib),
                              str(tmp_path / "a.txt"), str(tmp_path / "b.txt"))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    counts = dict(line.split() for line in lines if not line.startswith("job "))
    assert counts == {"a": "1", "and": "1", "cat": "1", "dog": "2", "end": "1", "the": "3"}
    job = lines[-1].split()[1]
    # Disco's own classic worker ran every stage, map_shuffle included
    cluster = disco_suite[1].local
    events = [event[2] for _offset, event in cluster.disco.events(job)]
    for stage in ("map", "map_shuffle", "reduce"):
        assert any(e.startswith(f"DONE: [{stage}:") for e in events), (stage, events)
    pack = cluster.disco.jobpack(job)
    assert pack.jobdict["worker"].endswith("disco/worker/classic/worker.py")


def test_disco_ddfs_client_pushes_tags_and_reads(disco_suite, disco_lib, tmp_path):
    (tmp_path / "ddfs_script.py").write_text(textwrap.dedent(DDFS_SCRIPT))
    (tmp_path / "two.txt").write_text("second blob")
    done = run_with_disco_lib(disco_suite, disco_lib, tmp_path, "ddfs_script.py",
                              str(disco_lib), str(tmp_path / "two.txt"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "exists True", "attr disco-0.5.4", "blobs 2", "data ['first blob', 'second blob']",
        "tags ['disco:compat:client', 'disco:compat:parent']", "gone False"]
