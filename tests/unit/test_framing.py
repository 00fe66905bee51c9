"""Worker-protocol framing: encode/Decoder/read_message per DISCO.md §2.1."""
from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings, strategies as st

from disco.protocol import framing
from disco.protocol.framing import Decoder, FramingError, encode, read_message, write_message

names = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
                max_size=10)
payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children,
                                                                     max_size=4),
    max_leaves=10)


def test_encode_matches_disco_frame():
    assert encode("WORKER", {"pid": 1}) == b'WORKER 9 {"pid":1}\n'
    assert encode("TASK", "") == b'TASK 2 ""\n'


def test_non_ascii_payload_is_escaped_and_length_is_bytes():
    frame = encode("MSG", "h\u00e9llo \u2603")
    assert frame == b'MSG 19 "h\\u00e9llo \\u2603"\n'
    assert Decoder().feed(frame) == [("MSG", b'"h\\u00e9llo \\u2603"')]


@pytest.mark.timeout(60)
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(names, payloads), max_size=5), st.integers(1, 7))
def test_roundtrip_any_chunking(messages, step):
    stream = b"".join(encode(n, p) for n, p in messages)
    decoder = Decoder()
    got = []
    for i in range(0, len(stream), step):
        got.extend(decoder.feed(stream[i:i + step]))
    assert [(n, json.loads(b)) for n, b in got] == [(n, p) for n, p in messages]
    assert not decoder.mid_message


@pytest.mark.timeout(60)
@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(names, payloads), min_size=1, max_size=5))
def test_blocking_read_write_roundtrip(messages):
    buffer = io.BytesIO()
    for name, payload in messages:
        write_message(buffer, name, payload)
    buffer.seek(0)
    assert [read_message(buffer) for _ in messages] == [(n, p) for n, p in messages]
    with pytest.raises(EOFError):
        read_message(buffer)


def test_mid_message_tracks_partial_frames():
    decoder = Decoder()
    assert decoder.feed(b"MSG 5 ") == []
    assert decoder.mid_message
    assert decoder.feed(b'"abc"\nPI') == [("MSG", b'"abc"')]
    assert decoder.mid_message
    assert decoder.feed(b'NG 2 ""\n') == [("PING", b'""')]
    assert not decoder.mid_message


@pytest.mark.parametrize("data, kind", [
    (b"TOOLONGNAME1 2 \"\"\n", "invalid_type"),
    (b"MSG x2 \"\"\n", "invalid_length"),
    (b"MSG -2 \"\"\n", "invalid_length"),
    (b"MSG 12345678901 ", "invalid_length"),
    (b"MSG 1 \"\"\n", "invalid_body"),
    (b"MSG 2 \"\"X", "invalid_body"),
    (b"MSG %d " % (framing.MAX_MESSAGE_LENGTH + 1), "message_too_big"),
])
def test_framing_errors(data, kind):
    decoder = Decoder()
    with pytest.raises(FramingError) as info:
        decoder.feed(data)
    assert info.value.kind == kind
    assert kind in str(info.value)
    with pytest.raises(FramingError):  # the decoder stays broken
        decoder.feed(b'OK 2 ""\n')


def test_error_keeps_unparsed_bytes_as_last_words():
    decoder = Decoder()
    with pytest.raises(FramingError):
        decoder.feed(b'OK 2 ""\nTraceback (most recent call last): boom')
    assert decoder.pending.startswith(b"Traceback")


def test_ten_byte_name_is_valid_even_when_split():
    decoder = Decoder()
    assert decoder.feed(b"ABCDEFGHIJ") == []
    assert decoder.feed(b' 2 ""\n') == [("ABCDEFGHIJ", b'""')]


def test_read_message_reports_framing_errors_and_truncation():
    with pytest.raises(FramingError) as info:
        read_message(io.BytesIO(b"MSG 2 \"\"X"))
    assert info.value.kind == "invalid_body"
    with pytest.raises(EOFError):
        read_message(io.BytesIO(b"MSG 5 \"ab"))


def test_encode_rejects_bad_names():
    for bad in ("", "HAS SPACE", "ELEVENCHARS"):
        with pytest.raises(ValueError):
            encode(bad, "")
