"""Douyin Open decoding on payloads written after the documented shapes (protocols.md §3), signatures, error codes,
and property tests: hostile bodies only ever raise ProtocolError (or a typed API error)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.connectors.douyin_open.codec import (
    api_data,
    error_for_code,
    live_push_signature,
    parse_comment_list,
    parse_token_response,
    parse_webhook,
    verify_live_push,
    verify_webhook_signature,
    webhook_signature,
)
from bot.connectors.douyin_open.events import comment_event, webhook_events
from bot.connectors.errors import (
    AuthExpired,
    ConnectorError,
    PermanentError,
    ProtocolError,
    RateLimited,
    TransientError,
)
from handlers.events import ChatMessage, DirectMessage, Follow

DATA = Path(__file__).parent / "data" / "douyin_open"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_a_customer_dm_becomes_a_direct_message_with_a_24h_window():
    hook = parse_webhook(sample("IMReceiveMessageEvent.json"))
    events, window = webhook_events(hook, account="shop", msg_id="m1", now=0.0)
    (dm,) = events
    assert isinstance(dm, DirectMessage)
    assert dm.text == "3号链接还有货吗"
    assert dm.viewer.user_id == "buyer-1a2b3c4d-5e6f-4a1b-9c8d-7e6f5a4b3c2d" and dm.viewer.nickname == "小鹿买买买"
    assert dm.event_id == "@leadbotMsg000000000000000000000000000000000000000000000000001=="
    assert dm.ts == pytest.approx(1763887201.234)  # create_time is in milliseconds
    assert dm.reply_window_until == pytest.approx(1763887201.234 + 86400)
    assert dm.conversation_id.startswith("@leadbotConv")
    assert window is not None and window.scene == "im_replay_msg" and window.msg_id == dm.event_id


def test_entering_the_dm_page_content_given_as_a_json_string_opens_a_window_too():
    hook = parse_webhook(sample("IMEnterDirectMessageEvent.json"))
    events, window = webhook_events(hook, account="shop", now=0.0)
    (dm,) = events
    assert isinstance(dm, DirectMessage) and dm.text == ""
    assert window is not None and window.scene == "im_enter_direct_msg"
    assert window.until == pytest.approx(1763887305.678 + 86400)


def test_a_new_follower_event_with_string_content_becomes_a_follow():
    hook = parse_webhook(sample("NewFollowActionEvent.json"))
    events, window = webhook_events(hook, account="shop", msg_id="follow-1", now=0.0)
    (follow,) = events
    assert isinstance(follow, Follow) and window is None
    assert follow.viewer.user_id == "fan-2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"
    assert follow.ts == 1763881000.0 and follow.event_id == "follow-1"


def test_verify_webhook_with_bom_parses_and_carries_the_challenge():
    hook = parse_webhook(sample("VerifyWebhookEvent.json"))
    assert hook.event == "verify_webhook" and hook.content["challenge"] == 24680
    assert webhook_events(hook, account="shop", now=0.0) == ([], None)


def test_an_item_comment_reply_webhook_becomes_a_chat_message_on_the_video():
    hook = parse_webhook(sample("ItemCommentReplyEvent.json"))
    events, _ = webhook_events(hook, account="shop", msg_id="hook-7", now=0.0)
    (chat,) = events
    assert isinstance(chat, ChatMessage)
    assert chat.origin.kind == "video" and chat.origin.key.startswith("@leadbotItem")
    assert chat.event_id == "hook-7"  # the event came with an empty comment_id, as documented samples do
    assert chat.reply_to is None


def test_a_comment_list_decodes_with_cursor_and_has_more():
    page = parse_comment_list(sample("ItemCommentListResponse.json"))
    assert page.cursor == 1 and page.has_more is True
    (comment,) = page.comments
    assert comment.text == "这个多少钱一盒" and comment.nickname == "阿青" and comment.create_time == 1763880000
    event = comment_event(comment, account="shop", item_id="@item")
    assert event.event_id.startswith("@leadbotComment") and event.viewer.user_id.startswith("viewer-5d6e7f80")


def test_token_responses_with_numbers_as_strings_give_absolute_expiry_times():
    tokens = parse_token_response(sample("OAuthAccessTokenResponse.json"), now=1000.0)
    assert tokens.access_token == "act.leadbot-access-1"
    assert tokens.open_id == "shop-0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5"
    assert tokens.access_expires_at == 1000.0 + 1296000 and tokens.refresh_expires_at == 1000.0 + 2592000
    refreshed = parse_token_response(sample("OAuthRefreshTokenResponse.json"), now=2000.0, previous=tokens)
    assert refreshed.access_expires_at == 2000.0 + 1296000 and refreshed.access_token == "act.leadbot-access-2"


def test_send_and_reply_responses_are_success():
    assert api_data(sample("ItemCommentReplyResponse.json"))["comment_id"] == "42"
    assert api_data(sample("IMSendMessageResponse.json"))["error_code"] == 0


def test_live_push_signature_matches_the_official_test_vector():
    headers = {"x-nonce-str": "123456", "x-timestamp": "456789", "x-roomid": "268", "x-msg-type": "live_gift"}
    assert live_push_signature(headers, "abc123你好", "123abc") == "PDcKhdlsrKEJif6uMKD2dw=="
    assert verify_live_push({**headers, "X-Signature": "PDcKhdlsrKEJif6uMKD2dw=="}, "abc123你好".encode(), "123abc")
    assert not verify_live_push({**headers, "x-signature": "PDcKhdlsrKEJif6uMKD2dw=="}, "abc123你好!", "123abc")


def test_webhook_signature_is_sha1_of_secret_plus_body_and_rejects_tampering():
    body = sample("IMReceiveMessageEvent.json")
    signature = webhook_signature("s3cret", body)
    assert len(signature) == 40
    assert verify_webhook_signature("s3cret", body, signature)
    assert verify_webhook_signature("s3cret", body, signature.upper())
    assert not verify_webhook_signature("s3cret", body + b" ", signature)
    assert not verify_webhook_signature("other", body, signature)
    assert not verify_webhook_signature("s3cret", body, None)
    assert not verify_webhook_signature("s3cret", body, "ü" * 40)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (28003018, RateLimited),
        (2190001, RateLimited),
        (28003017, RateLimited),
        (28001052, RateLimited),
        (40007, RateLimited),
        (28001008, AuthExpired),
        (2190008, AuthExpired),
        (10008, AuthExpired),
        (10010, AuthExpired),
        (28001005, TransientError),
        (2100004, TransientError),
        (28001007, PermanentError),
    ],
)
def test_platform_error_codes_become_typed_errors(code, kind):
    body = json.dumps({"data": {"error_code": code, "description": "x"}, "extra": {"error_code": code}})
    with pytest.raises(kind):
        api_data(body)
    error = error_for_code(code)
    assert isinstance(error, kind)
    if isinstance(error, RateLimited):
        assert error.retry_after and error.retry_after > 0


def test_an_expired_refresh_token_says_to_re_authorise():
    error = error_for_code(10010, "refresh_token expired")
    assert isinstance(error, AuthExpired) and "re-authorise" in str(error)


def test_error_only_in_extra_is_not_missed():
    with pytest.raises(RateLimited):
        api_data(b'{"extra": {"error_code": 28003018}}')


@pytest.mark.parametrize("body", [b"", b"\xff\xfe", b"[1,2]", b'{"event": 5}', b'{"event":"x","content":"[1]"}', b"{" * 5000])
def test_malformed_webhook_bodies_raise_protocol_error(body):
    with pytest.raises(ProtocolError):
        parse_webhook(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
webhook_like = st.fixed_dictionaries(
    {"event": st.sampled_from(["im_receive_msg", "im_enter_direct_msg", "new_follow_action", "item_comment_reply", "x"])},
    optional={
        "from_user_id": json_values,
        "to_user_id": json_values,
        "content": json_values | st.dictionaries(st.text(max_size=10), json_values).map(json.dumps),
    },
)


@settings(max_examples=150, deadline=500)
@given(st.one_of(st.binary(max_size=300), webhook_like.map(lambda d: json.dumps(d).encode())))
def test_property_webhook_decoding_only_raises_protocol_error(raw):
    try:
        hook = parse_webhook(raw)
    except ProtocolError:
        return
    events, _ = webhook_events(hook, account="a", msg_id="", now=1.0)
    assert len(events) <= 1


comment_doc = st.fixed_dictionaries(
    {"data": st.fixed_dictionaries({}, optional={"list": st.lists(st.dictionaries(
        st.sampled_from(["comment_id", "content", "create_time", "nick_name", "comment_user_id"]), json_values
    ), max_size=4) | json_values, "cursor": json_values, "has_more": json_values, "error_code": json_values})},
    optional={"extra": json_values},
)


@settings(max_examples=150, deadline=500)
@given(st.one_of(st.binary(max_size=200), comment_doc.map(lambda d: json.dumps(d).encode())))
def test_property_api_json_decoding_raises_only_typed_errors(raw):
    for parse in (parse_comment_list, lambda r: parse_token_response(r, now=0.0)):
        try:
            parse(raw)
        except ConnectorError:
            pass


def test_item_ids_are_fully_percent_encoded_in_queries():
    from bot.connectors.douyin_open.http import encode_query

    query = encode_query({"open_id": "a-b", "item_id": "@9VwW0q/mLO+Z10oQ=="})
    assert query == "open_id=a-b&item_id=%409VwW0q%2FmLO%2BZ10oQ%3D%3D"
