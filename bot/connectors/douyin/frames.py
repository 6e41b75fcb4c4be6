"""Douyin webcast framing: ``PushFrame`` → gzip ``Response`` → ``Message`` (protocols.md §2.3).

Pure bytes ↔ frozen dataclasses, both directions (the simulator encodes what the client
decodes). Every decoder raises only ``ProtocolError``.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field

from bot.connectors import protowire as wire
from bot.connectors.errors import ProtocolError

MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # a gunzipped Response is a few KB; refuse zip bombs


@dataclass(frozen=True, slots=True)
class PushFrame:
    seq_id: int = 0
    log_id: int = 0
    service: int = 0
    method: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    payload_encoding: str = ""
    payload_type: str = ""  # "msg" | "ack" | "hb" | "close" | ...
    payload: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Message:
    method: str  # "WebcastChatMessage", ...
    payload: bytes
    msg_id: int = 0
    msg_type: int = 0
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Response:
    messages: tuple[Message, ...] = ()
    cursor: str = ""
    fetch_interval: int = 0
    now: int = 0  # server time, unix ms
    internal_ext: str = ""
    fetch_type: int = 0
    route_params: dict[str, str] = field(default_factory=dict)
    heartbeat_duration: int = 0
    need_ack: bool = False
    push_server: str = ""
    live_cursor: str = ""
    history_no_more: bool = False


# PushFrame{payloadType: "hb"}: exactly the bytes a browser sends (jwwsjlm browser capture).
HEARTBEAT = wire.enc_str(7, "hb")
assert HEARTBEAT == bytes.fromhex("3a026862")


def _pairs(entries: list[bytes]) -> tuple[tuple[str, str], ...]:
    """Decode ``repeated {key=1, value=2}`` (also the wire form of ``map<string,string>``)."""
    out = []
    for entry in entries:
        fields = wire.parse(entry)
        out.append((fields.text(1), fields.text(2)))
    return tuple(out)


def _enc_pairs(number: int, pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> bytes:
    return b"".join(wire.enc_msg(number, wire.enc_str(1, k) + wire.enc_str(2, v)) for k, v in pairs)


def decode_frame(data: bytes) -> PushFrame:
    f = wire.parse(data)
    return PushFrame(
        seq_id=f.num(1),
        log_id=f.num(2),
        service=f.num(3),
        method=f.num(4),
        headers=_pairs(f.raws(5)),
        payload_encoding=f.text(6),
        payload_type=f.text(7),
        payload=f.raw(8),
    )


def encode_frame(frame: PushFrame) -> bytes:
    return wire.join(
        [
            wire.enc_int(1, frame.seq_id),
            wire.enc_int(2, frame.log_id),
            wire.enc_int(3, frame.service),
            wire.enc_int(4, frame.method),
            _enc_pairs(5, frame.headers),
            wire.enc_str(6, frame.payload_encoding),
            wire.enc_str(7, frame.payload_type),
            wire.enc_bytes(8, frame.payload),
        ]
    )


def decode_message(data: bytes) -> Message:
    f = wire.parse(data)
    return Message(method=f.text(1), payload=f.raw(2), msg_id=f.num(3), msg_type=f.num(4), offset=f.num(5))


def encode_message(message: Message) -> bytes:
    return wire.join(
        [
            wire.enc_str(1, message.method),
            wire.enc_bytes(2, message.payload),
            wire.enc_int(3, message.msg_id),
            wire.enc_int(4, message.msg_type),
            wire.enc_int(5, message.offset),
        ]
    )


def decode_response(data: bytes) -> Response:
    """A ``Response`` from its (already decompressed) protobuf bytes."""
    f = wire.parse(data)
    return Response(
        messages=tuple(decode_message(m) for m in f.raws(1)),
        cursor=f.text(2),
        fetch_interval=f.num(3),
        now=f.num(4),
        internal_ext=f.text(5),
        fetch_type=f.num(6),
        route_params=dict(_pairs(f.raws(7))),
        heartbeat_duration=f.num(8),
        need_ack=f.flag(9),
        push_server=f.text(10),
        live_cursor=f.text(11),
        history_no_more=f.flag(12),
    )


def encode_response(response: Response) -> bytes:
    return wire.join(
        [
            *(wire.enc_msg(1, encode_message(m)) for m in response.messages),
            wire.enc_str(2, response.cursor),
            wire.enc_int(3, response.fetch_interval),
            wire.enc_int(4, response.now),
            wire.enc_str(5, response.internal_ext),
            wire.enc_int(6, response.fetch_type),
            _enc_pairs(7, sorted(response.route_params.items())),
            wire.enc_int(8, response.heartbeat_duration),
            wire.enc_bool(9, response.need_ack),
            wire.enc_str(10, response.push_server),
            wire.enc_str(11, response.live_cursor),
            wire.enc_bool(12, response.history_no_more),
        ]
    )


def gunzip(data: bytes, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """Decompress a gzip member with a size cap; bad or oversized data → ProtocolError."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as error:
        raise ProtocolError(f"gzip: {error}", excerpt=data) from None
    if len(out) > limit:
        raise ProtocolError(f"gzip: decompressed payload exceeds {limit} bytes", excerpt=data)
    if not inflater.eof:
        raise ProtocolError("gzip: truncated stream", excerpt=data[-32:])
    return out


def response_from_frame(frame: PushFrame) -> Response:
    """The ``Response`` carried by a ``payloadType="msg"`` frame, decompressed per its headers."""
    compress = (frame.header("compress_type") or "").lower()
    payload = frame.payload
    if compress == "gzip" or (not compress and payload[:2] == b"\x1f\x8b"):
        payload = gunzip(payload)
    elif compress not in ("", "none"):
        raise ProtocolError(f"unsupported compress_type {compress!r}", excerpt=payload)
    return decode_response(payload)


def msg_frame(response: Response, *, seq_id: int, log_id: int) -> bytes:
    """Server side (simulator): a gzip ``Response`` in a ``msg`` PushFrame."""
    body = gzip.compress(encode_response(response), compresslevel=6, mtime=0)
    frame = PushFrame(
        seq_id=seq_id,
        log_id=log_id,
        headers=(("compress_type", "gzip"), ("im-cursor", response.cursor)),
        payload_encoding="pb",
        payload_type="msg",
        payload=body,
    )
    return encode_frame(frame)


def ack_frame(frame: PushFrame, response: Response) -> bytes:
    """``PushFrame{logId, payloadType "ack", payload=internal_ext}`` for a ``needAck`` response.

    Falls back to the ``im-internal_ext`` header when the Response carries none (dycast).
    """
    ext = response.internal_ext or frame.header("im-internal_ext") or ""
    return encode_frame(PushFrame(log_id=frame.log_id, payload_type="ack", payload=ext.encode("utf-8")))
