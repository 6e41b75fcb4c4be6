"""Douyin webcast codec: golden test on a real captured Response, round trips, fuzzing."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.connectors import protowire as wire
from bot.connectors.douyin import frames, messages
from bot.connectors.douyin.decode import to_event
from bot.connectors.errors import ProtocolError
from handlers.events import Like, MemberJoined, Origin


def _shared_dir() -> Path:
    """``<repo root>/../shared`` (main checkout) or one level further up (a helper worktree)."""
    root = Path(__file__).resolve().parents[1]
    for candidate in (root / ".." / "shared", root / ".." / ".." / "shared"):
        if candidate.is_dir():
            return candidate.resolve()
    return root / ".." / "shared"


VECTOR = _shared_dir() / "vectors" / "douyin" / "response_like_member.gz"
ORIGIN = Origin("douyin", "default", "live", "7394369720813816630")


def _vector() -> bytes:
    if not VECTOR.exists():
        pytest.skip(f"real Douyin capture not found at {VECTOR} (../shared/vectors is not checked out)")
    return VECTOR.read_bytes()


def _captured_frame() -> frames.PushFrame:
    """The captured payload as the server sends it: a gzip Response inside a ``msg`` PushFrame."""
    return frames.PushFrame(
        seq_id=1, log_id=7394381280667779385, headers=(("compress_type", "gzip"),), payload_type="msg", payload=_vector()
    )


def test_real_captured_response_decodes_to_the_documented_values() -> None:
    raw = _vector()
    assert len(raw) == 1303 and len(gzip.decompress(raw)) == 5544
    response = frames.response_from_frame(_captured_frame())
    assert response.cursor.startswith("t-1721638553798_r-")
    assert response.now == 1721638553798
    assert response.heartbeat_duration == 15
    assert response.need_ack is True
    assert response.internal_ext.startswith("internal_src:pushserver|first_req_ms:")
    assert [msg.method for msg in response.messages] == ["WebcastLikeMessage", "WebcastMemberMessage"]

    like_msg, member_msg = response.messages
    assert like_msg.msg_id == 7394381278768763699
    like = messages.LikeMessage.decode(like_msg.payload)
    assert (like.count, like.total, like.user.nickname) == (1, 6227, "心静致远")
    assert like.common.msg_id == 7394381278768763699
    member = messages.MemberMessage.decode(member_msg.payload)
    assert (member.user.nickname, member.member_count, member.action) == ("shark doo", 1095, 1)
    assert like.common.room_id == member.common.room_id == 7394369720813816630


def test_real_captured_response_becomes_a_like_and_a_member_joined_event() -> None:
    response = frames.response_from_frame(_captured_frame())
    events = [to_event(msg, ORIGIN, response.now).event for msg in response.messages]
    like, joined = events
    assert isinstance(like, Like) and isinstance(joined, MemberJoined)
    assert like.event_id == "7394381278768763699" and like.count == 1
    assert like.viewer.nickname == "心静致远" and like.viewer.user_id == "2880340959168492"
    assert joined.viewer.nickname == "shark doo" and joined.viewer.user_id == "103793327419"
    assert like.ts == pytest.approx(1721638553.798)  # no createTime in the capture: server `now`


def test_ack_for_the_captured_frame_carries_its_log_id_and_internal_ext() -> None:
    frame = _captured_frame()
    response = frames.response_from_frame(frame)
    ack = frames.decode_frame(frames.ack_frame(frame, response))
    assert ack.payload_type == "ack"
    assert ack.log_id == 7394381280667779385
    assert ack.payload == response.internal_ext.encode()
    assert ack.payload.startswith(b"internal_src:pushserver|")


def test_heartbeat_frame_is_exactly_the_browser_bytes() -> None:
    assert frames.HEARTBEAT == bytes.fromhex("3a026862")
    assert frames.decode_frame(frames.HEARTBEAT).payload_type == "hb"


def test_re_encoding_the_captured_response_keeps_every_field_we_use() -> None:
    response = frames.response_from_frame(_captured_frame())
    again = frames.decode_response(frames.encode_response(response))
    assert again == response


def test_unknown_fields_and_wire_types_are_skipped() -> None:
    # field 99 fixed32, field 98 fixed64, field 97 a group holding a varint, then payloadType
    blob = (
        wire.enc_fixed32(99, 7)
        + wire.enc_fixed64(98, 1 << 60)
        + wire.key(97, wire.SGROUP)
        + wire.enc_int(1, 5)
        + wire.key(97, wire.EGROUP)
        + frames.HEARTBEAT
    )
    frame = frames.decode_frame(blob)
    assert frame.payload_type == "hb" and frame.seq_id == 0  # the varint inside the group is not field 1


@pytest.mark.parametrize(
    "blob, reason",
    [
        (b"\x08", "truncated or overlong varint"),
        (b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "truncated or overlong varint"),
        (b"\x42\x05ab", "runs past the end"),
        (b"\x0e\x00", "invalid wire type 6"),
        (b"\x00\x01", "invalid field number 0"),
        (b"\x0c", "end-group without start-group"),
        (b"\x0b\x08\x01", "unterminated group"),
        (b"\x09\x01\x02", "truncated fixed64"),
    ],
)
def test_malformed_protobuf_is_a_protocol_error_with_a_hex_excerpt(blob: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as caught:
        frames.decode_frame(blob)
    assert caught.value.excerpt and caught.value.excerpt.hex() in str(caught.value)


def test_a_field_with_the_wrong_wire_type_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="expected length-delimited"):
        frames.decode_frame(wire.enc_int(7, 3))  # payloadType as a number


def test_truncated_gzip_and_zip_bombs_are_protocol_errors() -> None:
    raw = _vector()
    with pytest.raises(ProtocolError, match="truncated"):
        frames.gunzip(raw[: len(raw) // 2])
    with pytest.raises(ProtocolError, match="exceeds"):
        frames.gunzip(gzip.compress(b"\0" * 10_000), limit=1000)
    with pytest.raises(ProtocolError, match="compress_type"):
        frames.response_from_frame(frames.PushFrame(headers=(("compress_type", "br"),), payload=b"x"))


def _decode_everything(blob: bytes) -> None:
    frame = frames.decode_frame(blob)
    response = frames.response_from_frame(frame)
    for msg in response.messages:
        to_event(msg, ORIGIN, response.now)


@settings(max_examples=300, deadline=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_never_raise_anything_but_protocol_error(blob: bytes) -> None:
    started = time.perf_counter()
    try:
        _decode_everything(blob)
        for cls in messages.DECODERS.values():
            cls.decode(blob)
    except ProtocolError:
        pass
    assert time.perf_counter() - started < 0.2


@settings(max_examples=200, deadline=500)
@given(st.data())
def test_mutated_real_frames_never_raise_anything_but_protocol_error(data: st.DataObject) -> None:
    inner = gzip.decompress(_vector())
    blob = bytearray(inner)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    mutated = bytes(blob[:cut])
    try:
        response = frames.decode_response(mutated)
        for msg in response.messages:
            to_event(msg, ORIGIN, response.now)
    except ProtocolError:
        pass


users = st.builds(
    messages.User,
    id=st.integers(0, 2**64 - 1),
    nickname=st.text(max_size=20),
    display_id=st.text(max_size=10),
    id_str=st.text(max_size=10),
    fans_club_name=st.text(max_size=5),
    fans_club_level=st.integers(0, 50),
)
commons = st.builds(messages.Common, method=st.text(max_size=20), msg_id=st.integers(0, 2**64 - 1), create_time=st.integers(0, 2**50))


@settings(max_examples=100, deadline=200)
@given(
    st.builds(messages.ChatMessage, common=commons, user=users, content=st.text(max_size=50), event_time=st.integers(0, 2**40))
    | st.builds(
        messages.GiftMessage,
        common=commons,
        user=users,
        repeat_count=st.integers(0, 9999),
        repeat_end=st.integers(0, 1),
        gift=st.builds(messages.GiftStruct, name=st.text(max_size=8), combo=st.booleans(), diamond_count=st.integers(0, 10**6)),
    )
    | st.builds(messages.SocialMessage, common=commons, user=users, action=st.integers(0, 5), share_type=st.integers(0, 3))
    | st.builds(messages.ControlMessage, common=commons, action=st.integers(0, 10), tips=st.text(max_size=10))
)
def test_business_messages_round_trip(message: messages.Business) -> None:
    assert type(message).decode(message.encode()) == message


@settings(max_examples=100, deadline=200)
@given(
    st.builds(
        frames.PushFrame,
        seq_id=st.integers(0, 2**64 - 1),
        log_id=st.integers(0, 2**64 - 1),
        headers=st.lists(st.tuples(st.text(max_size=10), st.text(max_size=10)), max_size=3).map(tuple),
        payload_type=st.sampled_from(["msg", "ack", "hb", "close"]),
        payload=st.binary(max_size=64),
    )
)
def test_push_frames_round_trip(frame: frames.PushFrame) -> None:
    assert frames.decode_frame(frames.encode_frame(frame)) == frame
