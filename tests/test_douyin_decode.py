"""Douyin business messages → events, room page parsing, URL signing, sender error mapping."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.connectors.douyin import frames, room
from bot.connectors.douyin import messages as m
from bot.connectors.douyin.client import pack_cursor, unpack_cursor
from bot.connectors.douyin.decode import to_event
from bot.connectors.douyin.sender import DouyinWebSender
from bot.connectors.douyin.signer import StubSigner, ms_stub, push_params, push_url
from bot.connectors.errors import AuthExpired, ConnectorError, PermanentError, RateLimited, TransientError
from handlers.events import ChatMessage, Follow, Gift, LiveEnded, Origin

ORIGIN = Origin("douyin", "shop", "live", "646454278948")
BUYER = m.User(id=1001, nickname="小红", fans_club_name="粉丝团", fans_club_level=7)


def wrap(business: m.Business, msg_id: int = 42) -> frames.Message:
    return frames.Message(method=type(business).METHOD, payload=business.encode(), msg_id=msg_id)


def test_a_chat_becomes_a_chat_message_with_the_viewers_fan_level() -> None:
    msg = m.ChatMessage(m.Common(create_time=1_721_638_553_000), BUYER, "3号链接多少钱")
    event = to_event(wrap(msg), ORIGIN, 0).event
    assert isinstance(event, ChatMessage)
    assert (event.text, event.event_id, event.ts) == ("3号链接多少钱", "42", 1_721_638_553.0)
    assert (event.viewer.user_id, event.viewer.fan_level, event.viewer.badge) == ("1001", 7, "粉丝团")


def test_an_emoji_chat_uses_its_default_text() -> None:
    event = to_event(wrap(m.EmojiChatMessage(user=BUYER, emoji_id=9, default_content="[比心]")), ORIGIN, 5000).event
    assert isinstance(event, ChatMessage) and event.text == "[比心]" and event.ts == 5.0


@pytest.mark.parametrize(
    "social, expected",
    [
        (m.SocialMessage(user=BUYER, action=1), "follow"),
        (m.SocialMessage(user=BUYER, action=3, share_type=1, share_target="wechat"), "share"),
        (m.SocialMessage(m.Common(display_key="pm_mt_guidance_viewer_3_share"), BUYER, action=1), "share"),
        (m.SocialMessage(m.Common(display_key="pm_main_follow_message_viewer_2"), BUYER, action=7), "follow"),
        (m.SocialMessage(user=BUYER, action=0), "follow?"),
    ],
)
def test_follow_and_share_are_told_apart_as_well_as_is_known(social: m.SocialMessage, expected: str) -> None:
    decoded = to_event(wrap(social), ORIGIN, 0)
    if expected == "share":
        assert decoded.event is None and decoded.note == "share"
    else:
        assert isinstance(decoded.event, Follow)
        assert decoded.note == ("social_unknown_action" if expected == "follow?" else "")


def test_a_combo_gift_is_counted_once_at_the_end_of_the_streak() -> None:
    rose = m.GiftStruct(id=1, name="玫瑰", diamond_count=10, combo=True)
    during = to_event(wrap(m.GiftMessage(user=BUYER, repeat_count=3, repeat_end=0, gift=rose)), ORIGIN, 0)
    end = to_event(wrap(m.GiftMessage(user=BUYER, repeat_count=5, repeat_end=1, gift=rose)), ORIGIN, 0).event
    assert during.event is None and during.note == "gift_combo_in_progress"
    assert isinstance(end, Gift) and (end.gift_name, end.count, end.value) == ("玫瑰", 5, 5.0)
    single = to_event(wrap(m.GiftMessage(user=BUYER, gift=m.GiftStruct(name="嘉年华", diamond_count=30000))), ORIGIN, 0).event
    assert isinstance(single, Gift) and (single.count, single.value) == (1, 3000.0)


@pytest.mark.parametrize("action, ended, note", [(1, False, "live_paused"), (2, False, "live_unpaused"), (3, True, ""), (4, True, "")])
def test_control_messages(action: int, ended: bool, note: str) -> None:
    decoded = to_event(wrap(m.ControlMessage(action=action)), ORIGIN, 0)
    assert isinstance(decoded.event, LiveEnded) is ended and decoded.note == note


def test_methods_leadbot_does_not_use_are_skipped() -> None:
    decoded = to_event(frames.Message("WebcastRoomUserSeqMessage", b"\x18\x05"), ORIGIN, 0)
    assert decoded.event is None and decoded.note == "ignored_method"


def test_the_room_page_gives_the_numeric_room_id() -> None:
    page = r'<script>self.__pace_f.push([1,"{\"roomId\":\"7394369720813816630\",\"user_unique_id\":\"7390000000000000001\"}"])</script>'
    assert room.parse_room_page(page) == ("7394369720813816630", "7390000000000000001")
    assert room.parse_room_page("<html>captcha</html>") == (None, None)


def test_the_ms_stub_is_the_md5_of_the_documented_string() -> None:
    params = push_params(room_id="7394369720813816630", user_unique_id="7390000000000000001", cursor="c", internal_ext="x", user_agent="Mozilla/5.0 X")
    text = (
        "live_id=1,aid=6383,version_code=180800,webcast_sdk_version=1.0.15,room_id=7394369720813816630,"
        "sub_room_id=,sub_channel_id=,did_rule=3,user_unique_id=7390000000000000001,device_platform=web,"
        "device_type=,ac=,identity=audience"
    )
    assert ms_stub(params) == hashlib.md5(text.encode()).hexdigest()


async def test_the_push_url_carries_cursor_internal_ext_and_a_signature() -> None:
    ext = "internal_src:pushserver|first_req_ms:1|wss_msg_type:r"
    params = push_params(room_id="1", user_unique_id="2", cursor="t-1_r-5_d-1", internal_ext=ext, user_agent="Mozilla/5.0 (X11) A")
    signer = StubSigner()
    url = await push_url("wss://h.example", params, signer)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    assert parts.path == "/webcast/im/push/v2/"
    assert query["cursor"] == "t-1_r-5_d-1" and query["internal_ext"] == ext and query["room_id"] == "1"
    assert query["browser_version"] == "5.0 (X11) A"
    assert query["signature"] and len(query["signature"]) == 16 and signer.last_stub == ms_stub(params)
    assert list(query)[-1] == "signature"


def test_a_stored_cursor_round_trips_and_junk_means_start_fresh() -> None:
    assert unpack_cursor(pack_cursor("t-1_r-2", "a|b:c&d=e")) == ("t-1_r-2", "a|b:c&d=e")
    assert unpack_cursor(None) is None and unpack_cursor("garbage") is None


@settings(max_examples=200, deadline=200)
@given(st.text(max_size=200))
def test_cursor_and_page_parsers_never_crash(text: str) -> None:
    unpack_cursor(text)
    room.parse_room_page(text)


@pytest.mark.parametrize(
    "status, body, error",
    [
        (429, b"", RateLimited),
        (503, b"", TransientError),
        (401, b"", AuthExpired),
        (200, b'{"status_code": 20003, "status_msg": "not logged in"}', AuthExpired),
        (200, b'{"status_code": 10011, "status_msg": "room gone"}', PermanentError),
        (400, b"", PermanentError),
        (200, b"<html>", TransientError),
    ],
)
def test_send_answers_map_to_typed_errors(status: int, body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        DouyinWebSender._check(status, "3", body)


@settings(max_examples=200, deadline=200)
@given(st.integers(100, 599), st.one_of(st.none(), st.text(max_size=5)), st.binary(max_size=80))
def test_any_send_answer_is_a_result_or_a_typed_error(status: int, retry_after: str | None, body: bytes) -> None:
    try:
        DouyinWebSender._check(status, retry_after, body)
    except ConnectorError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=200)
@given(st.dictionaries(st.sampled_from(["status_code", "status_msg", "data"]), json_values))
def test_any_json_send_answer_is_a_result_or_a_typed_error(payload: dict[str, object]) -> None:
    try:
        DouyinWebSender._check(200, None, json.dumps(payload).encode())
    except ConnectorError:
        pass


@pytest.mark.parametrize("value, expected", [("7", 7.0), ("-3", 0.0), ("inf", None), ("nan", None), ("Wed, 21 Oct", None), (None, None), ("1e9", 3600.0)])
def test_retry_after_values_are_sane(value: str | None, expected: float | None) -> None:
    assert room.seconds(value) == expected
