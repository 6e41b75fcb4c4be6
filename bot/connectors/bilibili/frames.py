"""Bilibili live WebSocket framing: 16-byte big-endian headers, bodies raw or compressed.

Every packet starts with ``struct '>I2H2I'``: pack_len (header + body), header_len (16),
protover (0 raw JSON, 1 heartbeat/auth, 2 zlib, 3 brotli), operation, sequence. A compressed
body (protover 2/3) holds one or more complete packets with their own headers. One WebSocket
message may carry several packets back to back.

Pure functions on bytes; every malformed input raises ``ProtocolError`` (with an excerpt),
never anything else. Decompression is bounded so a hostile frame cannot exhaust memory.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import brotli

from bot.connectors.errors import ProtocolError

HEADER = struct.Struct(">I2H2I")
HEADER_LEN = HEADER.size  # 16
MAX_DECOMPRESSED = 4 * 1024 * 1024  # one batch of danmaku is a few KiB; this is far above any real one
MAX_PACKETS = 10_000  # per WebSocket message, after decompression


class ProtoVer(IntEnum):
    NORMAL = 0  # raw JSON body
    HEARTBEAT = 1  # auth / heartbeat / their replies, uncompressed
    ZLIB = 2
    BROTLI = 3


class Op(IntEnum):
    HEARTBEAT = 2
    HEARTBEAT_REPLY = 3
    SEND_MSG_REPLY = 5  # a business command (JSON with "cmd")
    AUTH = 7
    AUTH_REPLY = 8


@dataclass(frozen=True, slots=True)
class Packet:
    """One decoded packet: its operation and protover, and its (decompressed) body."""

    op: int
    ver: int
    body: bytes
    seq: int = 0


def encode_packet(op: int, body: bytes | str | dict[str, Any], *, ver: int = ProtoVer.HEARTBEAT, seq: int = 1) -> bytes:
    """Header + body, as a client (``ver=1``) or the server (``ver=0``) would write it."""
    if isinstance(body, dict):
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    elif isinstance(body, str):
        raw = body.encode("utf-8")
    else:
        raw = body
    return HEADER.pack(HEADER_LEN + len(raw), HEADER_LEN, int(ver), int(op), seq) + raw


def encode_batch(commands: Iterable[bytes | dict[str, Any]], *, ver: int = ProtoVer.BROTLI) -> bytes:
    """Several op-5 commands in one compressed packet, like the server sends them (ver 2 or 3)."""
    inner = b"".join(encode_packet(Op.SEND_MSG_REPLY, c, ver=ProtoVer.NORMAL, seq=0) for c in commands)
    if ver == ProtoVer.BROTLI:
        packed = brotli.compress(inner)
    elif ver == ProtoVer.ZLIB:
        packed = zlib.compress(inner)
    else:
        raise ValueError(f"batch protover must be 2 (zlib) or 3 (brotli), not {ver}")
    return HEADER.pack(HEADER_LEN + len(packed), HEADER_LEN, int(ver), Op.SEND_MSG_REPLY, 0) + packed


def encode_heartbeat_reply(popularity: int, echo: bytes = b"") -> bytes:
    """The server's op-3 reply: pack_len counts only the 4 popularity bytes, the echo follows."""
    return HEADER.pack(HEADER_LEN + 4, HEADER_LEN, ProtoVer.HEARTBEAT, Op.HEARTBEAT_REPLY, 0) + (
        popularity & 0xFFFFFFFF
    ).to_bytes(4, "big") + echo


def _decompress(ver: int, body: bytes) -> bytes:
    try:
        if ver == ProtoVer.ZLIB:
            inflater = zlib.decompressobj()
            out = inflater.decompress(body, MAX_DECOMPRESSED)
            if inflater.unconsumed_tail:
                raise ProtocolError("zlib body inflates beyond the size limit", excerpt=body)
            return out
        decompressor = brotli.Decompressor()
        try:
            out = decompressor.process(body, output_buffer_limit=MAX_DECOMPRESSED)
        except TypeError:  # brotli < 1.2 has no output limit
            out = decompressor.process(body)
        if len(out) >= MAX_DECOMPRESSED:
            raise ProtocolError("brotli body decompresses beyond the size limit", excerpt=body)
        if not decompressor.is_finished():
            raise ProtocolError("brotli body is truncated", excerpt=body)
        return out
    except (zlib.error, brotli.error) as error:
        raise ProtocolError(f"cannot decompress protover {ver} body: {error}", excerpt=body) from None


def decode_message(data: bytes) -> list[Packet]:
    """All packets of one WebSocket message, compressed batches expanded (one level deep)."""
    packets: list[Packet] = []
    _split(data, packets, nested=False)
    return packets


def _split(data: bytes, out: list[Packet], *, nested: bool) -> None:
    offset = 0
    if not data:
        raise ProtocolError("empty frame")
    while offset < len(data):
        if len(data) - offset < HEADER_LEN:
            raise ProtocolError(f"truncated header at offset {offset}", excerpt=data[offset:])
        pack_len, header_len, ver, op, seq = HEADER.unpack_from(data, offset)
        if header_len < HEADER_LEN or pack_len < header_len:
            raise ProtocolError(
                f"bad header at offset {offset}: pack_len={pack_len} header_len={header_len}",
                excerpt=data[offset:],
            )
        end = offset + pack_len
        if op == Op.HEARTBEAT_REPLY:
            # Quirk: pack_len counts only the 4 popularity bytes; the echoed client body follows.
            body = data[offset + header_len : offset + header_len + 4]
            if len(body) < 4:
                raise ProtocolError("heartbeat reply without popularity", excerpt=data[offset:])
            out.append(Packet(op, ver, body, seq))
            return  # the rest of the message is the echo
        if end > len(data):
            raise ProtocolError(
                f"truncated packet at offset {offset}: pack_len={pack_len}, {len(data) - offset} bytes present",
                excerpt=data[offset:],
            )
        body = data[offset + header_len : end]
        if op == Op.SEND_MSG_REPLY and ver in (ProtoVer.ZLIB, ProtoVer.BROTLI):
            if nested:
                raise ProtocolError("compressed packet inside a compressed packet", excerpt=data[offset:])
            _split(_decompress(ver, body), out, nested=True)
        else:
            out.append(Packet(op, ver, body, seq))
        if len(out) > MAX_PACKETS:
            raise ProtocolError(f"more than {MAX_PACKETS} packets in one message", excerpt=data[:64])
        offset = end


def popularity(packet: Packet) -> int:
    """The u32 popularity value of a heartbeat reply."""
    if packet.op != Op.HEARTBEAT_REPLY or len(packet.body) < 4:
        raise ProtocolError("not a heartbeat reply", excerpt=packet.body)
    return int.from_bytes(packet.body[:4], "big")


def json_body(packet: Packet) -> dict[str, Any]:
    """The JSON object of an op-5 command or op-8 auth reply."""
    try:
        value = json.loads(packet.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ProtocolError(f"op {packet.op} body is not JSON: {error}", excerpt=packet.body) from None
    if not isinstance(value, dict):
        raise ProtocolError(f"op {packet.op} body is JSON but not an object", excerpt=packet.body)
    return value


def auth_body(*, uid: int, roomid: int, token: str, buvid: str = "") -> dict[str, Any]:
    """The op-7 auth packet body the web client sends (protover 3 = brotli batches please)."""
    body: dict[str, Any] = {"uid": uid, "roomid": roomid, "protover": 3, "platform": "web", "type": 2}
    if buvid:
        body["buvid"] = buvid
    if token:
        body["key"] = token
    return body
