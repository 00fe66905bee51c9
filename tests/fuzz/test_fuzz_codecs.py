"""Fuzz the pure decoders: job packs, the worker protocol framing, Disco's record format and the
master/node link messages. Each may only raise its own defined error."""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile

import pytest
from hypothesis import strategies as st

from disco.error import DataError, JobPackError, ProtocolError
from disco.fileutils import DiscoOutputStream_v1, read_records
from disco.node import jobhome
from disco.protocol import cluster, framing, jobpack

from .conftest import fuzz

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(300)]


def valid_pack() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("w", "#!/bin/sh\n")
        archive.writestr("lib/m.py", "x = 1\n")
    jobdict = {"prefix": "Fz", "worker": "w", "owner": "t", "scheduler": {},
               "pipeline": [["map", "split", False]], "inputs": [[0, 0, ["raw://a"]]]}
    return jobpack.pack(2, jobdict, {"A": "b"}, buf.getvalue(), b"data")


VALID = valid_pack()


@st.composite
def mutated(draw, base: bytes):
    """`base` with a few bytes flipped, cut short, or with a random chunk spliced in."""
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=64))
    return bytes(data)


packs = st.one_of(st.binary(max_size=512), mutated(VALID))


def test_jobpack_parser(budget):
    def check(data):
        try:
            jobpack.parse(data)
        except JobPackError:
            pass
    fuzz(budget, packs, check)


def test_job_home_extraction(budget, tmp_path):
    def check(data):
        staging = tempfile.mkdtemp(prefix="home", dir=tmp_path)
        with open(os.path.join(staging, jobhome.JOBFILE), "wb") as f:
            f.write(data)
        try:
            jobhome._extract(staging, "w")
        except (JobPackError, DataError):
            pass
        assert all(name.startswith("home") for name in os.listdir(tmp_path))
        shutil.rmtree(staging)
    fuzz(budget, packs, check)


frames = st.tuples(st.one_of(st.binary(max_size=256),
                             mutated(framing.encode("TASK", {"a": [1, 2]}) * 2)),
                   st.lists(st.integers(1, 40), max_size=8))


def test_worker_protocol_framing(budget):
    fuzz(budget, frames, lambda args: check_framing(*args))


def check_framing(data, cuts):
    decoder = framing.Decoder()
    at = 0
    try:
        for size in cuts + [len(data)]:
            for _name, body in decoder.feed(data[at:at + size]):
                framing.loads_payload(body)
            at += size
    except (framing.FramingError, ProtocolError):  # both are a clear task failure on the node
        pass
    try:
        stream = io.BytesIO(data)
        while True:
            framing.read_message(stream)
    except (framing.FramingError, ProtocolError, EOFError):
        pass


def record_stream() -> bytes:
    out = io.BytesIO()
    writer = DiscoOutputStream_v1(out)
    for i in range(50):
        writer.append((f"k{i}", i))
    writer.close()
    return out.getvalue()


RECORDS = record_stream()


def test_record_format_decoder(budget):
    def check(data):
        try:
            for _record in read_records(io.BytesIO(data), len(data), url="fuzz://x"):
                pass
        except DataError:
            pass
    fuzz(budget, st.one_of(st.binary(max_size=256), mutated(RECORDS)), check)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                           max_leaves=12)
link_messages = st.one_of(
    st.binary(max_size=64),
    json_values.map(json.dumps),
    st.builds(lambda op, rest: json.dumps({"op": op, **rest}),
              st.sampled_from(sorted(cluster.FIELDS)),
              st.dictionaries(st.sampled_from(sorted({f for fs in cluster.FIELDS.values()
                                                      for f in fs})), json_values)))


def test_link_messages(budget):
    def check(text):
        try:
            cluster.decode(text)
        except cluster.LinkProtocolError:
            pass
    fuzz(budget, link_messages, check)
