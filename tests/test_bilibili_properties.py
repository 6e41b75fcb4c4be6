"""Hostile bytes never crash the Bilibili decoders: only ProtocolError, and quickly."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.connectors import protowire
from bot.connectors.bilibili import frames
from bot.connectors.bilibili.decode import decode_command
from bot.connectors.errors import ProtocolError
from handlers.events import Origin

ROOM = Origin(platform="bilibili", account="a", kind="live", key="1")
FAST = settings(max_examples=100, deadline=500, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=20) | st.dictionaries(st.text(max_size=10), children, max_size=8),
    max_leaves=60,
)
cmds = st.sampled_from(
    ["DANMU_MSG", "DANMU_MSG:4:0:2", "INTERACT_WORD", "INTERACT_WORD_V2", "LIVE", "PREPARING", "SEND_GIFT",
     "LIKE_INFO_V3_CLICK", "WATCHED_CHANGE"]
)


def _decode_all(data: bytes) -> None:
    try:
        for packet in frames.decode_message(data):
            if packet.op == frames.Op.HEARTBEAT_REPLY:
                frames.popularity(packet)
            elif packet.op == frames.Op.SEND_MSG_REPLY:
                decode_command(frames.json_body(packet), ROOM, now=0.0)
    except ProtocolError:
        pass


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_raise_protocol_error(data: bytes) -> None:
    _decode_all(data)


@st.composite
def framed(draw: st.DrawFn) -> bytes:
    """Plausible frames: a valid header around random or JSON bodies, maybe compressed, maybe cut."""
    body = draw(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
    op = draw(st.sampled_from([2, 3, 5, 7, 8, 99]))
    ver = draw(st.sampled_from([0, 1, 2, 3]))
    if op == 5 and ver in (2, 3) and draw(st.booleans()):
        data = frames.encode_batch([body, body], ver=ver)
    else:
        data = frames.HEADER.pack(16 + len(body), 16, ver, op, 0) + body
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut]
    if draw(st.booleans()) and data:
        index = draw(st.integers(0, len(data) - 1))
        data = data[:index] + bytes([draw(st.integers(0, 255))]) + data[index + 1 :]
    return data


@FAST
@given(framed())
def test_mutated_frames_only_raise_protocol_error(data: bytes) -> None:
    _decode_all(data)


@FAST
@given(cmds, json_values)
def test_known_commands_with_any_payload_only_raise_protocol_error(cmd: str, payload: Any) -> None:
    for command in ({"cmd": cmd, "info": payload}, {"cmd": cmd, "data": payload}, {"cmd": cmd, "data": {"pb": payload}}):
        try:
            decode_command(command, ROOM, now=0.0)
        except ProtocolError:
            pass


@FAST
@given(st.lists(json_values, min_size=3, max_size=20))
def test_danmu_info_lists_of_anything(info: list[Any]) -> None:
    try:
        decode_command({"cmd": "DANMU_MSG", "info": info}, ROOM, now=0.0)
    except ProtocolError:
        pass


@FAST
@given(st.binary(max_size=300))
def test_protobuf_reader_on_arbitrary_bytes(data: bytes) -> None:
    try:
        protowire.parse(data)
    except ProtocolError:
        pass
    try:
        decode_command({"cmd": "INTERACT_WORD_V2", "data": {"pb": base64.b64encode(data).decode()}}, ROOM, now=0.0)
    except ProtocolError:
        pass


@FAST
@given(st.lists(st.tuples(st.integers(1, 2**20), st.integers(0, 2**64 - 1) | st.text(max_size=20)), max_size=10))
def test_protobuf_writer_and_reader_round_trip(pairs: list[tuple[int, int | str]]) -> None:
    encoded = protowire.join(
        protowire.enc_int(number, value) if isinstance(value, int) else protowire.enc_str(number, value)
        for number, value in pairs
    )
    fields = protowire.parse(encoded)
    for number, value in pairs:
        expected = value if isinstance(value, int) else value.encode()
        if expected in (0, b""):
            continue  # proto3 leaves default values off the wire; reading gives the default back
        assert expected in fields.all(number)


@FAST
@given(json_values)
def test_bootstrap_answer_parsers_only_raise_typed_errors(answer: Any) -> None:
    from bot.connectors.bilibili.api import parse_danmu_info, parse_room_init, ws_urls
    from bot.connectors.errors import ConnectorError

    for candidate in (answer, {"code": 0, "data": answer}, {"code": 0, "data": {"token": "t", "host_list": answer}}):
        if not isinstance(candidate, dict):
            continue
        try:
            parse_room_init(candidate)
        except ConnectorError:
            pass
        try:
            info = parse_danmu_info(candidate)
        except ConnectorError:
            continue
        for scheme in ("wss", "ws"):
            assert all(url.startswith(f"{scheme}://") for url in ws_urls(info, scheme))
