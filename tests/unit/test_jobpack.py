"""Job pack codec, validation and v1 pipelines per DISCO.md §2.6 and §1.5."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from disco.error import JobPackError
from disco.protocol import jobpack
from disco.protocol.jobpack import (JobInput, Stage, compile_pipeline, job_inputs, job_name,
                                    pack, parse)


def v1_jobdict(**extra):
    jobdict = {"prefix": "WordCount", "worker": "disco-worker", "owner": "me@host",
               "scheduler": {}, "input": ["raw://a"], "nr_reduces": 1, "map?": True}
    jobdict.update(extra)
    return jobdict


def v2_jobdict(**extra):
    jobdict = {"prefix": "P", "worker": "w", "owner": "o", "scheduler": {},
               "pipeline": [["map", "split", False], ["reduce", "group_label", True]],
               "inputs": [[0, 0, ["raw://x", "raw://y"]]]}
    jobdict.update(extra)
    return jobdict


texts = st.text(max_size=20)
envs = st.dictionaries(st.text(min_size=1, max_size=10), texts, max_size=4)


@pytest.mark.timeout(60)
@settings(max_examples=100, deadline=None)
@given(envs, st.binary(max_size=200), st.binary(max_size=200), st.sampled_from([1, 2]))
def test_pack_parse_roundtrip(jobenvs, jobhome, jobdata, version):
    jobdict = v1_jobdict() if version == 1 else v2_jobdict()
    parts = parse(pack(version, jobdict, jobenvs, jobhome, jobdata))
    assert parts == (version, jobdict, jobenvs, jobhome, jobdata)


def test_header_layout_is_disco():
    data = pack(1, v1_jobdict(), {}, b"ZIP", b"DATA")
    magic, dict_at, envs_at, home_at, data_at = struct.unpack("!IIIII", data[:20])
    assert magic == 0xD5C00001 and dict_at == 128
    assert data[20:128] == b"\0" * 108
    assert data[home_at:data_at] == b"ZIP" and data[data_at:] == b"DATA"
    assert envs_at > dict_at and home_at >= envs_at


@pytest.mark.parametrize("mutate", [
    lambda d: d[:100],                                        # shorter than the header
    lambda d: b"\x12\x34" + d[2:],                            # bad magic
    lambda d: d[:4] + struct.pack("!I", 127) + d[8:],         # jobdict not at 128
    lambda d: d[:8] + struct.pack("!I", 128) + d[12:],        # empty jobdict
])
def test_invalid_header(mutate):
    with pytest.raises(JobPackError, match="^invalid header$"):
        parse(mutate(pack(1, v1_jobdict(), {}, b"", b"")))


def test_truncated_pack_says_truncated():
    data = pack(1, v1_jobdict(), {}, b"z" * 64, b"d" * 64)
    with pytest.raises(JobPackError, match="^job pack truncated: 255 bytes received") as exc:
        parse(data[:255])
    assert "invalid header" in str(exc.value)  # Disco's test_jobpack looks for these words


def test_unsupported_version():
    with pytest.raises(JobPackError, match="unsupported version '3'"):
        parse(pack(3, v1_jobdict(), {}, b"", b""))


@pytest.mark.parametrize("key", ["prefix", "worker", "owner", "scheduler", "input", "nr_reduces"])
def test_missing_key_v1(key):
    jobdict = v1_jobdict()
    del jobdict[key]
    with pytest.raises(JobPackError, match=f"jobpack missing key '{key}'"):
        parse(pack(1, jobdict, {}, b"", b""))


@pytest.mark.parametrize("key", ["pipeline", "inputs"])
def test_missing_key_v2(key):
    jobdict = v2_jobdict()
    del jobdict[key]
    with pytest.raises(JobPackError, match=f"jobpack missing key '{key}'"):
        parse(pack(2, jobdict, {}, b"", b""))


@pytest.mark.parametrize("prefix", ["a/b", "a.b", 5])
def test_invalid_prefix(prefix):
    with pytest.raises(JobPackError, match="^invalid prefix$"):
        parse(pack(1, v1_jobdict(prefix=prefix), {}, b"", b""))


def test_invalid_pipelines():
    with pytest.raises(JobPackError, match="repeated_pipeline_stages"):
        compile_pipeline(2, v2_jobdict(pipeline=[["a", "split"], ["a", "group_all"]]))
    with pytest.raises(JobPackError, match="invalid grouping"):
        compile_pipeline(2, v2_jobdict(pipeline=[["a", "nope"]]))
    with pytest.raises(JobPackError, match="^Invalid job pipeline"):
        compile_pipeline(2, v2_jobdict(pipeline=[["a"]]))


@pytest.mark.parametrize("inputs", [[["raw://x"]], [[0, 0, "raw://x"]], [[0, "0", ["x"]]], "x"])
def test_invalid_v2_inputs(inputs):
    with pytest.raises(JobPackError, match="invalid_job_inputs"):
        job_inputs(2, v2_jobdict(inputs=inputs))


def test_invalid_json_payload_and_save_results():
    data = bytearray(pack(1, v1_jobdict(), {}, b"", b""))
    data[128] = ord("!")
    with pytest.raises(JobPackError, match="invalid payload"):
        parse(bytes(data))
    with pytest.raises(JobPackError, match="invalid_job_save_results"):
        parse(pack(2, v2_jobdict(save_results="yes"), {}, b"", b""))


S = Stage
MAP = [S("map", "split"), S("map_shuffle", "group_node")]


@pytest.mark.parametrize("has_map, has_reduce, nr, shuffle, expected", [
    (False, False, 1, False, []),
    (False, True, 1, False, [S("reduce", "group_all")]),
    (False, True, 4, True, [S("reduce", "group_label"), S("reduce_shuffle", "group_node")]),
    (False, True, 4, False, [S("reduce", "group_label")]),
    (True, False, 4, False, MAP),
    (True, True, 1, True, MAP + [S("reduce", "group_all")]),
    (True, True, 4, True, MAP + [S("reduce", "group_label"), S("reduce_shuffle", "group_node")]),
    (True, True, 4, False, MAP + [S("reduce", "group_label")]),
])
def test_v1_pipeline_table(has_map, has_reduce, nr, shuffle, expected):
    jobdict = v1_jobdict(**{"map?": has_map, "reduce?": has_reduce, "nr_reduces": nr,
                            "reduce_shuffle?": shuffle})
    assert compile_pipeline(1, jobdict) == expected


def test_v2_pipeline_keeps_concurrency():
    assert compile_pipeline(2, v2_jobdict()) == [S("map", "split", False),
                                                S("reduce", "group_label", True)]


def test_v1_inputs_and_dir_inputs():
    jobdict = v1_jobdict(input=["raw://a", ["http://x/1", "http://y/1"], ["dir://h/i", "dir://g/i"]])
    got = job_inputs(1, jobdict)
    assert got == [JobInput(0, 0, ["raw://a"]), JobInput(0, 0, ["http://x/1", "http://y/1"]),
                   JobInput(0, 0, ["dir://h/i"])]
    assert [i.is_dir for i in got] == [False, False, True]
    assert job_inputs(2, v2_jobdict()) == [JobInput(0, 0, ["raw://x", "raw://y"])]


def test_scheduler_options():
    assert jobpack.scheduler_options(1, v1_jobdict()) == {
        "max_cores": 1 << 31, "force_local": False, "force_remote": False}
    assert jobpack.scheduler_options(1, v1_jobdict(scheduler={"max_cores": 3}))["max_cores"] == 3
    with pytest.raises(JobPackError):
        jobpack.scheduler_options(1, v1_jobdict(scheduler={"max_cores": "x"}))


def test_job_name_format():
    assert job_name("WordCount", now=1_476_123_456.5) == "WordCount@5c4:1e240:7a120"
    assert job_name("x").startswith("x@")
