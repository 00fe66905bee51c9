"""Disco's worker protocol spoken without disco, for the tests' foreign workers.

The workers (tests/counters/foreign_worker.py, tests/web/web_worker.py) stand for workers in
another language: they must not import disco, so this module is stdlib only and is shipped
beside them in their job home (`jobpack_for` puts both in it). The tests use `jobpack_for`.
"""
import io
import json
import os
import sys
import zipfile

OUT, IN = sys.stderr.buffer, sys.stdin.buffer


def field():
    """The next space-terminated field of a message from the node."""
    data = b""
    while True:
        c = IN.read(1)
        if not c:
            raise SystemExit(5)
        if c == b" ":
            return data
        data += c


def call(name, payload=""):
    """Send one message; the payload of the node's reply."""
    body = json.dumps(payload).encode()
    OUT.write(b"%s %d %s\n" % (name.encode(), len(body), body))
    OUT.flush()
    field()
    length = int(field())
    return json.loads(IN.read(length + 1)[:-1])


def done():
    OUT.write(b"DONE 2 \"\"\n")
    OUT.flush()


def jobpack_for(worker, prefix, pipeline, inputs, owner="test@localhost"):
    """A v2 job pack whose job home holds the executable `worker` and this module."""
    from disco.protocol import jobpack
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, mode in ((worker, 0o755), (__file__, 0o644)):
            info = zipfile.ZipInfo(os.path.basename(path))
            info.external_attr = mode << 16
            with open(path, encoding="utf-8") as f:
                archive.writestr(info, f.read())
    jobdict = {"prefix": prefix, "worker": os.path.basename(worker), "owner": owner,
               "scheduler": {}, "pipeline": pipeline,
               "inputs": [[0, 0, [url]] for url in inputs]}
    return jobpack.pack(jobpack.VERSION2, jobdict, {}, buffer.getvalue(), b"")
