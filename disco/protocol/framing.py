"""Worker-protocol framing (layer 0): ``<NAME> SP <LEN> SP <PAYLOAD> \\n``.

NAME is 1-10 bytes without a space, LEN is 1-10 ASCII digits giving the byte length of
PAYLOAD (JSON, non-ASCII escaped), and exactly one ``\\n`` follows the payload. The same
framing is used in both directions (worker -> node on the worker's stderr/stdout, node ->
worker on its stdin). Payloads over 100 MiB are refused.

* :func:`encode` builds a frame; :class:`Decoder` parses frames incrementally (node side),
  reporting Disco's error kinds as :class:`FramingError`.
* :func:`read_message` / :func:`write_message` are the blocking helpers workers use.
"""
from __future__ import annotations

import json
import logging
from typing import IO, Any

from disco.error import ProtocolError

log = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 100 * 1024 * 1024
MAX_NAME_LENGTH = 10
MAX_LENGTH_DIGITS = 10
ERROR_KINDS = ("invalid_type", "invalid_length", "invalid_body", "message_too_big")

_SPACE = 0x20
_NEWLINE = 0x0A
_DIGITS = frozenset(b"0123456789")

_DESCRIPTIONS = {
    "invalid_type": "message name missing or longer than 10 bytes",
    "invalid_length": "message length is not a decimal number",
    "invalid_body": "payload not followed by a newline (length does not match the payload)",
    "message_too_big": f"message longer than {MAX_MESSAGE_LENGTH} bytes",
}


class FramingError(ProtocolError):
    """A frame that breaks the worker-protocol framing; ``kind`` is one of ERROR_KINDS."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind, detail)
        self.kind, self.detail = kind, detail

    def __str__(self) -> str:
        text = f"worker protocol framing error ({self.kind}): {_DESCRIPTIONS.get(self.kind, '')}"
        return f"{text}: {self.detail}" if self.detail else text


def dumps_payload(payload: Any) -> bytes:
    """JSON-encode a payload the way Disco does (compact, non-ASCII escaped)."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def loads_payload(body: bytes) -> Any:
    """Decode a JSON payload; raise :class:`ProtocolError` if it is not JSON."""
    try:
        return json.loads(body)
    except ValueError as e:
        raise ProtocolError(f"worker protocol: payload is not valid JSON ({e}): "
                            f"{body[:200]!r}") from None


def encode_raw(name: str, body: bytes) -> bytes:
    """Frame an already JSON-encoded ``body`` under message ``name``."""
    raw_name = name.encode("ascii")
    if not 1 <= len(raw_name) <= MAX_NAME_LENGTH or b" " in raw_name:
        raise ValueError(f"invalid worker protocol message name {name!r}: "
                         f"1-{MAX_NAME_LENGTH} bytes without spaces")
    if len(body) > MAX_MESSAGE_LENGTH:
        raise FramingError("message_too_big", f"{name} payload of {len(body)} bytes")
    return b"%s %d %s\n" % (raw_name, len(body), body)


def encode(name: str, payload: Any) -> bytes:
    """Frame ``payload`` (a JSON-serialisable object) as message ``name``."""
    return encode_raw(name, dumps_payload(payload))


class Decoder:
    """Incremental frame parser: ``feed(bytes)`` returns every message completed so far.

    After a :class:`FramingError` the decoder is broken: later ``feed`` calls raise the same
    error, and :attr:`pending` holds the unparsed bytes (the worker's "last words").
    """

    def __init__(self, max_length: int = MAX_MESSAGE_LENGTH) -> None:
        self._buffer = bytearray()
        self._max_length = max_length
        self._error: FramingError | None = None

    @property
    def mid_message(self) -> bool:
        """True when a message has started but is not complete yet."""
        return bool(self._buffer)

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet part of a complete message."""
        return bytes(self._buffer)

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        """Add ``data``; return the completed messages as ``(name, payload_bytes)``."""
        if self._error is not None:
            self._buffer += data
            raise self._error
        self._buffer += data
        messages: list[tuple[str, bytes]] = []
        offset = 0
        try:
            while True:
                parsed = self._parse_one(offset)
                if parsed is None:
                    break
                message, offset = parsed
                messages.append(message)
        except FramingError as e:
            self._error = e
            del self._buffer[:offset]
            raise
        del self._buffer[:offset]
        return messages

    def _parse_one(self, start: int) -> tuple[tuple[str, bytes], int] | None:
        buf = self._buffer
        name_end = _find_head(buf, start, MAX_NAME_LENGTH, "invalid_type")
        if name_end is None:
            return None
        length_end = _find_head(buf, name_end + 1, MAX_LENGTH_DIGITS, "invalid_length")
        if length_end is None:
            return None
        length = self._parse_length(buf[name_end + 1:length_end])
        body_start = length_end + 1
        body_end = body_start + length
        if len(buf) <= body_end:
            return None
        if buf[body_end] != _NEWLINE:
            raise FramingError("invalid_body", f"byte {buf[body_end:body_end + 1]!r} after payload")
        name = buf[start:name_end].decode("latin-1")
        return (name, bytes(buf[body_start:body_end])), body_end + 1

    def _parse_length(self, digits: bytearray) -> int:
        if not digits or not _DIGITS.issuperset(digits):
            raise FramingError("invalid_length", repr(bytes(digits)))
        length = int(digits)
        if length > self._max_length:
            raise FramingError("message_too_big", f"{length} bytes")
        return length


def _find_head(buf: bytearray, start: int, max_size: int, kind: str) -> int | None:
    """Index of the space ending a 1..max_size byte field at ``start``; None = need more data."""
    end = buf.find(b" ", start + 1, start + max_size + 1)
    if end >= 0:
        return end
    if len(buf) - start > max_size:
        raise FramingError(kind, repr(bytes(buf[start:start + max_size + 1])))
    return None


def write_message(stream: IO[bytes], name: str, payload: Any) -> None:
    """Write one message to a binary stream and flush it."""
    stream.write(encode(name, payload))
    stream.flush()


def read_message(stream: IO[bytes]) -> tuple[str, Any]:
    """Read one message from a binary stream; return ``(name, decoded payload)``.

    Raises :class:`EOFError` if the stream ends (before or inside a message) and
    :class:`FramingError` for a malformed frame.
    """
    name = _read_head(stream, MAX_NAME_LENGTH, "invalid_type", at_start=True)
    digits = _read_head(stream, MAX_LENGTH_DIGITS, "invalid_length", at_start=False)
    if not digits or not _DIGITS.issuperset(digits):
        raise FramingError("invalid_length", repr(digits))
    length = int(digits)
    if length > MAX_MESSAGE_LENGTH:
        raise FramingError("message_too_big", f"{length} bytes")
    body = _read_exactly(stream, length + 1)
    if body[-1] != _NEWLINE:
        raise FramingError("invalid_body", f"byte {body[-1:]!r} after payload")
    return name.decode("latin-1"), loads_payload(body[:-1])


def _read_head(stream: IO[bytes], max_size: int, kind: str, at_start: bool) -> bytes:
    field = bytearray()
    while True:
        byte = stream.read(1)
        if not byte:
            if at_start and not field:
                raise EOFError("worker protocol: stream closed")
            raise EOFError("worker protocol: stream closed inside a message")
        if byte[0] == _SPACE and field:
            return bytes(field)
        field += byte
        if len(field) > max_size:
            raise FramingError(kind, repr(bytes(field)))


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError("worker protocol: stream closed inside a message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
