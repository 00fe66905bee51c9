"""Disco record format v1/v0, AtomicFile, Chunker, DiscoZipFile (DISCO.md §1.14)."""
from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from disco.error import DataError
from disco.fileutils import (HUNK_HEADER_SIZE, AtomicFile, Chunker, DiscoOutput,
                             DiscoOutputStream, DiscoOutputStream_v0, DiscoOutputStream_v1,
                             DiscoZipFile, NonBlockingInput, read_records)

records = st.lists(st.tuples(st.binary(max_size=30) | st.text(max_size=30),
                             st.integers() | st.binary(max_size=50) | st.none()), max_size=60)


def encode(recs, **kwargs):
    buffer = io.BytesIO()
    out = DiscoOutputStream(buffer, **kwargs)
    for k, v in recs:
        out.add(k, v)
    out.close()
    return buffer.getvalue()


def decode(data, **kwargs):
    return list(read_records(io.BytesIO(data), len(data), "test://x", **kwargs))


@pytest.mark.timeout(60)
@settings(max_examples=150, deadline=None)
@given(records, st.integers(1, 400), st.sampled_from([0, 2]))
def test_v1_roundtrip(recs, hunk_size, level):
    data = encode(recs, min_hunk_size=hunk_size, compression_level=level)
    assert decode(data) == recs


def test_v1_hunk_layout_matches_disco():
    data = encode([(b"k", 1)])
    first, compressed, crc, size = struct.unpack("<BBIQ", data[:HUNK_HEADER_SIZE])
    payload = zlib.decompress(data[HUNK_HEADER_SIZE:HUNK_HEADER_SIZE + size])
    assert (first, compressed) == (0x81, 1)
    assert crc == zlib.crc32(payload) and pickle.loads(payload) == (b"k", 1)
    # close() always appends one more (empty) hunk
    rest = data[HUNK_HEADER_SIZE + size:]
    assert rest[0] == 0x81 and zlib.decompress(rest[HUNK_HEADER_SIZE:]) == b""


def test_reads_concatenated_streams_and_protocol_1_records():
    legacy = b"".join(pickle.dumps(r, 1) for r in [("a", 1), (b"b", 2)])
    hunk = struct.pack("<BBIQ", 0x81, 0, zlib.crc32(legacy), len(legacy)) + legacy
    data = encode([(b"x", 0)]) + hunk
    assert decode(data) == [(b"x", 0), ("a", 1), (b"b", 2)]


def test_zero_size_hunk_ends_the_stream():
    end = struct.pack("<BBIQ", 0x81, 0, 0, 0)
    assert decode(encode([(1, 2)]) + end + encode([(3, 4)])) == [(1, 2)]


@pytest.mark.timeout(60)
@settings(max_examples=100, deadline=None)
@given(records.filter(bool), st.data())
def test_truncated_stream_raises_data_error(recs, data):
    encoded = encode(recs)
    cut = data.draw(st.integers(1, len(encoded) - HUNK_HEADER_SIZE - 9))
    with pytest.raises(DataError, match="Truncated data|Corrupted data"):
        decode(encoded[:cut])


@pytest.mark.timeout(60)
@settings(max_examples=100, deadline=None)
@given(records.filter(bool), st.data())
def test_corrupted_payload_raises_data_error(recs, data):
    encoded = bytearray(encode(recs, compression_level=0))
    _, _, _, size = struct.unpack("<BBIQ", encoded[:HUNK_HEADER_SIZE])
    position = data.draw(st.integers(HUNK_HEADER_SIZE, HUNK_HEADER_SIZE + size - 1))
    encoded[position] ^= 0xFF
    with pytest.raises(DataError, match="Corrupted data between bytes 14-") as info:
        decode(bytes(encoded))
    assert info.value.url == "test://x"


def test_ignore_corrupt_skips_bad_hunks():
    good = encode([(b"a", 1)], min_hunk_size=1)
    bad = bytearray(encode([(b"b", 2)]))
    bad[HUNK_HEADER_SIZE + 4] ^= 0xFF
    assert decode(bytes(bad) + good, ignore_corrupt=True) == [(b"a", 1)]


def test_v0_roundtrip_and_truncation():
    buffer = io.BytesIO()
    out = DiscoOutputStream(buffer, version=0)
    assert isinstance(out, DiscoOutputStream_v0)
    out.add("key", "val ue")
    out.add(1, 2)
    data = buffer.getvalue()
    assert data == b"3 key 6 val ue\n1 1 1 2\n"
    assert decode(data) == [("key", "val ue"), ("1", "2")]
    with pytest.raises(DataError, match="Truncated|Corrupted"):
        list(read_records(io.BytesIO(data[:-3]), len(data), "u"))


def test_max_record_size():
    out = DiscoOutputStream_v1(io.BytesIO(), max_record_size=10)
    with pytest.raises(ValueError, match="larger than max_record_size"):
        out.add(b"x" * 20, 1)


def test_chunker_splits_into_complete_streams():
    recs = [(b"%d" % i, b"v" * 100) for i in range(30000)]
    chunks = list(Chunker(chunk_size=1000).chunks(recs))
    assert len(chunks) > 1
    assert [r for chunk in chunks for r in decode(chunk)] == recs


def test_atomic_file_is_invisible_until_closed(tmp_path):
    path = str(tmp_path / "sub" / "out")
    f = AtomicFile(path)
    f.write(b"abc")
    f.write("d\u00e9")
    assert not os.path.exists(path) and os.path.exists(path + ".partial")
    f.close()
    with open(path, "rb") as published:
        assert published.read() == "abcd\u00e9".encode()
    assert f.size() == 6 and not os.path.exists(path + ".partial")


def test_disco_output_writes_atomically(tmp_path):
    path = str(tmp_path / "records")
    out = DiscoOutput(path)
    out.add("k", [1])
    assert not os.path.exists(path)
    out.close()
    with open(path, "rb") as f:
        assert list(read_records(f, os.path.getsize(path), path)) == [("k", [1])]


def test_zipfile_writepath_excludes_and_dumps(tmp_path):
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "a.pyc").write_bytes(b"junk")
    (tmp_path / "pkg" / "__pycache__" / "a.cpython.pyc").write_bytes(b"junk")
    z = DiscoZipFile()
    z.writepath(str(tmp_path / "pkg"), exclude=(".pyc",))
    z.writestr("extra", b"bytes")
    names = zipfile.ZipFile(io.BytesIO(z.dumps())).namelist()
    assert names == [str(tmp_path / "pkg" / "a.py").lstrip("/"), "extra"]


@pytest.mark.timeout(30)
def test_non_blocking_input_reads_and_times_out():
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"OK 4 \"ok\"\n")
        reader = NonBlockingInput(read_end, timeout=0.5)
        spent, data = reader.t_read_until(b" ")
        assert data == b"OK "
        _, data = reader.t_read(7)
        assert data == b'4 "ok"\n'
        with pytest.raises(IOError, match="timed out"):
            reader.t_read(1)
    finally:
        os.close(read_end)
        os.close(write_end)
