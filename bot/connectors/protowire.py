"""Protocol Buffers wire format, the small part our platforms need (Douyin frames, Bilibili INTERACT_WORD_V2).

Decoding gives ``Fields``: every field number mapped to the raw values seen, in order.
Typed structures (``frames.py``, ``messages.py``) pick the fields they use and ignore the
rest, so unknown fields and unknown-but-valid wire types are skipped safely. Anything that
is not valid wire format — a truncated varint, a length past the end, wire type 6/7, a
field number 0 — raises ``ProtocolError`` with a hex excerpt; nothing else escapes.

Why our own ~150 lines instead of the ``protobuf`` package: we read about 60 fields of
9 messages, need to *encode* the same structures for the simulator, and want every
decoder fuzzable end to end. Hand-written descriptors for ``protobuf`` would be as long as
this file, add a C-extension dependency, and still leave the mapping to dataclasses.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.connectors.errors import ProtocolError

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
MAX_DEPTH = 16  # nested groups; messages are decoded lazily so this bounds group skipping only
Value = int | bytes


def _fail(message: str, data: bytes, pos: int) -> ProtocolError:
    start = max(0, pos - 8)
    return ProtocolError(f"protobuf: {message} at byte {pos}", excerpt=bytes(data[start : start + 32]))


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position). At most 10 bytes; values are reduced to 64 bits like protobuf."""
    if pos < len(data) and data[pos] < 0x80:  # fast path: most keys and small numbers
        return data[pos], pos + 1
    result = shift = 0
    for i in range(pos, min(pos + 10, len(data))):
        byte = data[i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, i + 1
        shift += 7
    raise _fail("truncated or overlong varint", data, pos)


@dataclass
class Fields:
    """Raw field values of one message, by field number (repeated fields keep every value)."""

    values: dict[int, list[Value]] = field(default_factory=dict)
    source: bytes = b""

    def all(self, number: int) -> list[Value]:
        return self.values.get(number, [])

    def num(self, number: int, default: int = 0) -> int:
        """Last varint/fixed value of a scalar field (proto3: the last one wins)."""
        for value in reversed(self.all(number)):
            if isinstance(value, int):
                return value
            raise _fail(f"field {number} is length-delimited, expected a number", self.source, 0)
        return default

    def signed(self, number: int) -> int:
        """int64 stored as varint: two's complement of the 64-bit value."""
        value = self.num(number)
        return value - (1 << 64) if value >= 1 << 63 else value

    def flag(self, number: int) -> bool:
        return self.num(number) != 0

    def raw(self, number: int, default: bytes = b"") -> bytes:
        for value in reversed(self.all(number)):
            if isinstance(value, bytes):
                return value
            raise _fail(f"field {number} is a number, expected length-delimited", self.source, 0)
        return default

    def text(self, number: int, default: str = "") -> str:
        data = self.raw(number, b"")
        if not data:
            return default
        # proto3 strings must be UTF-8; a broken one is kept readable, never fatal
        return data.decode("utf-8", errors="replace")

    def raws(self, number: int) -> list[bytes]:
        out = []
        for value in self.all(number):
            if not isinstance(value, bytes):
                raise _fail(f"field {number} is a number, expected length-delimited", self.source, 0)
            out.append(value)
        return out


def parse(data: bytes) -> Fields:
    """Split one message into its fields. Raises ProtocolError on anything malformed."""
    data = bytes(data)
    fields = Fields(source=data)
    pos, end, depth = 0, len(data), 0
    while pos < end:
        key, after = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0 or number > 0x1FFF_FFFF:
            raise _fail(f"invalid field number {number}", data, pos)
        value: Value
        if wire == VARINT:
            value, pos = read_varint(data, after)
        elif wire == I64:
            if after + 8 > end:
                raise _fail("truncated fixed64", data, pos)
            value, pos = struct.unpack_from("<Q", data, after)[0], after + 8
        elif wire == I32:
            if after + 4 > end:
                raise _fail("truncated fixed32", data, pos)
            value, pos = struct.unpack_from("<I", data, after)[0], after + 4
        elif wire == LEN:
            length, start = read_varint(data, after)
            if length > end - start:
                raise _fail(f"length {length} runs past the end", data, pos)
            value, pos = data[start : start + length], start + length
        elif wire == SGROUP:  # deprecated groups: skipped, never returned
            depth += 1
            if depth > MAX_DEPTH:
                raise _fail("groups nested too deeply", data, pos)
            pos = after
            continue
        elif wire == EGROUP:
            if depth == 0:
                raise _fail("end-group without start-group", data, pos)
            depth -= 1
            pos = after
            continue
        else:
            raise _fail(f"invalid wire type {wire}", data, pos)
        if depth == 0:
            fields.values.setdefault(number, []).append(value)
    if depth:
        raise _fail("unterminated group", data, pos)
    return fields


# --- encoding (the simulator and ACK/heartbeat frames) ---------------------------------


def varint(value: int) -> bytes:
    value &= 0xFFFF_FFFF_FFFF_FFFF  # negative int64 → 10-byte two's complement, as protobuf does
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint((number << 3) | wire)


def enc_int(number: int, value: int) -> bytes:
    """A varint field; proto3 leaves zero values out."""
    return key(number, VARINT) + varint(value) if value else b""


def enc_bool(number: int, value: bool) -> bytes:
    return enc_int(number, 1 if value else 0)


def enc_bytes(number: int, value: bytes) -> bytes:
    return key(number, LEN) + varint(len(value)) + value if value else b""


def enc_str(number: int, value: str) -> bytes:
    return enc_bytes(number, value.encode("utf-8"))


def enc_msg(number: int, payload: bytes | None) -> bytes:
    """An embedded message; None leaves it out, an empty message is still written."""
    return b"" if payload is None else key(number, LEN) + varint(len(payload)) + payload


def enc_fixed64(number: int, value: int) -> bytes:
    return key(number, I64) + struct.pack("<Q", value & 0xFFFF_FFFF_FFFF_FFFF)


def enc_fixed32(number: int, value: int) -> bytes:
    return key(number, I32) + struct.pack("<I", value & 0xFFFF_FFFF)


def join(parts: Iterable[bytes]) -> bytes:
    return b"".join(parts)
