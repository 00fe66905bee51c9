"""disco.worker.task_io stream chains and disco.schemes readers."""
from __future__ import annotations

import gzip
import io
import types

import pytest

from disco import schemes
from disco.error import DataError, DiscoError
from disco.fileutils import DiscoOutput
from disco.urls import hexhash
from disco.worker import task_io
from disco.worker.task_io import (StreamCombiner, chain_stream, default_stream, gzip_line_stream,
                                  gzip_stream, plain_output_stream, re_reader)


def read_all(url, streams, params=None):
    combiner = StreamCombiner(url, streams, params)
    try:
        return list(combiner)
    finally:
        combiner.close()


def write_records(path, records):
    out = DiscoOutput(str(path))
    for k, v in records:
        out.add(k, v)
    out.close()


def test_file_inputs_are_bytes_lines_and_raw_inputs_str_lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"one two\nthree\n")
    for url in (str(path), f"file://{path}"):
        assert read_all(url, default_stream, None) == [b"one two\n", b"three\n"]
    # as in Disco: raw:// gives str lines (its scheme_raw opens a StringIO)
    assert read_all("raw://one two\nthree", default_stream, None) == ["one two\n", "three"]


def test_chain_stream_reads_disco_records(tmp_path):
    path = tmp_path / "part"
    write_records(path, [(b"k", 1), ("s", [2])])
    assert read_all(str(path), chain_stream, params=object()) == [(b"k", 1), ("s", [2])]


def test_corrupt_record_file_raises_even_with_params(tmp_path):
    path = tmp_path / "part"
    write_records(path, [(b"k", 1)] * 10)
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="Corrupted data"):
        read_all(str(path), chain_stream, params=types.SimpleNamespace())


def test_stream_functions_get_params_only_with_four_arguments(tmp_path):
    seen = []

    def three(fd, size, url):
        seen.append(("three", url))
        return io.BytesIO(b"x\n"), 2, url

    def four(fd, size, url, params):
        seen.append(("four", params))
        return [line.upper() for line in fd]

    assert read_all("raw://ignored", (three, four), "P") == [b"X\n"]
    assert seen == [("three", "raw://ignored"), ("four", "P")]


def test_gzip_streams(tmp_path):
    path = tmp_path / "in.gz"
    path.write_bytes(gzip.compress(b"a\nb\n"))
    assert read_all(str(path), gzip_stream, None) == [b"a\n", b"b\n"]
    assert read_all(str(path), gzip_line_stream, None) == [b"a\n", b"b\n"]


def test_re_reader_groups_tail_and_truncation():
    data = b"<a>1</a><a>22</a>tail"
    items = list(re_reader(rb"<a>(.*?)</a>", io.BytesIO(data), len(data), "f",
                           output_tail=True, read_buffer_size=3))
    assert items == [(b"1",), (b"22",), [b"tail"]]
    with pytest.raises(DataError, match="Truncated input"):
        list(re_reader(rb"(.)", io.BytesIO(b"ab"), 5, "f"))


def test_plain_output_stream():
    buffer = io.BytesIO()
    out = plain_output_stream(buffer, 0, "u", None)
    out.add("k", 12)
    assert buffer.getvalue() == b"1 k 2 12\n"


def test_string_input_stream_keeps_type():
    stream, size, url = task_io.string_input_stream(b"a\nb", None, "u", None)
    assert list(stream) == [b"a\n", b"b"] and size == 3


def test_disco_scheme_reads_local_file_for_own_host(tmp_path):
    job = "J@1:2:3"
    relative = f"n1/{hexhash(job)}/{job}/out"
    (tmp_path / relative).parent.mkdir(parents=True)
    write_records(tmp_path / relative, [(b"x", 1)])
    task = types.SimpleNamespace(host="n1", disco_port=1, disco_data=str(tmp_path),
                                 ddfs_data="/nowhere", group_label=0)
    url = f"disco://n1/disco/{relative}"
    with schemes.open(url, task=task) as stream:
        assert stream.url == f"file://{tmp_path / relative}"
    assert list(schemes.open_chain(url, task=task)) == [(b"x", 1)]
    fd, size, resolved = schemes.input_stream(None, None, url, None, globals={"Task": task})
    with fd:
        assert size == len(fd.read()) and resolved.startswith("file://")


def test_tag_and_unknown_schemes_fail_clearly():
    with pytest.raises(DiscoError, match="expanded to their blob URLs at submit time"):
        StreamCombiner("tag://data", default_stream, None)
    with pytest.raises(DiscoError, match="Unsupported input URL scheme 'nope'"):
        StreamCombiner("nope://x", default_stream, None)


def test_url_scheme_yields_the_url():
    assert read_all("url://example", default_stream, None) == ["url://example"]
