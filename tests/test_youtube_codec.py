"""YouTube decoding on liveChatMessages.list payloads written after the documented shape, error mapping, the quota budget,
and property tests of the decoders."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.connectors.errors import (
    AuthExpired,
    ConnectorError,
    PermanentError,
    ProtocolError,
    RateLimited,
    TransientError,
)
from bot.connectors.youtube.codec import (
    parse_chat_page,
    parse_comment_threads,
    parse_time,
    parse_token_response,
    token_error,
    typed_error,
)
from bot.connectors.youtube.decode import chat_item_event, thread_event
from bot.connectors.youtube.quota import QuotaBudget, next_pacific_midnight
from handlers.events import ChatMessage, LiveEnded

DATA = Path(__file__).parent / "data" / "youtube"


def test_a_chat_page_gives_chat_messages_token_and_polling_interval():
    page = parse_chat_page((DATA / "liveChatMessageListResponse.json").read_bytes())
    assert page.next_page_token == "GLleadbotNextPage0001"
    assert page.polling_interval_s == pytest.approx(5.12)
    assert page.offline_at is None
    events = [chat_item_event(i, account="shop", live_chat_id="chat", now=0.0).event for i in page.items]
    assert all(isinstance(e, ChatMessage) for e in events)
    first = events[0]
    assert isinstance(first, ChatMessage)
    assert first.text == "is the blue one in stock?"
    assert first.viewer.user_id == "UCleadbotViewer000000001" and first.viewer.nickname == "Mara Quinn"
    assert first.ts == datetime(2026, 11, 20, 14, 0, 30, 645000, tzinfo=UTC).timestamp()
    assert first.event_id.startswith("LCC.") and first.origin.kind == "live"
    assert len({e.event_id for e in events if e}) == len(events)


def test_items_with_short_fractions_offsets_and_emoji_parse():
    items = json.loads((DATA / "liveChatMessages_items.json").read_text(encoding="utf-8"))
    events = [chat_item_event(i, account="shop", live_chat_id="c", now=0.0).event for i in items]
    assert [e.text for e in events if isinstance(e, ChatMessage)][2] == "watching from Turkey 🇹🇷 😍"
    first, second = events[0], events[1]
    assert first is not None and first.ts == datetime(2026, 11, 21, 9, 15, 2, 500000, tzinfo=UTC).timestamp()
    assert second is not None and second.ts == datetime(2026, 11, 21, 9, 15, 7, 170440, tzinfo=UTC).timestamp()


def item(kind: str, **snippet: object) -> dict[str, object]:
    return {"id": f"id-{kind}", "snippet": {"type": kind, "publishedAt": "2024-01-01T00:00:00Z", **snippet},
            "authorDetails": {"channelId": "UCx", "displayName": "x", "isChatSponsor": True}}


def test_membership_is_skipped_deleted_ignored_and_chat_end_is_live_ended():
    sponsor = chat_item_event(item("newSponsorEvent"), account="a", live_chat_id="c", now=0.0)
    assert sponsor.event is None and sponsor.skipped == "newSponsorEvent"
    deleted = chat_item_event(item("messageDeletedEvent"), account="a", live_chat_id="c", now=0.0)
    assert deleted.event is None and not deleted.skipped
    ended = chat_item_event(item("chatEndedEvent"), account="a", live_chat_id="c", now=0.0)
    assert isinstance(ended.event, LiveEnded)
    superchat = chat_item_event(item("superChatEvent", superChatDetails={"userComment": "how much is #3?"}),
                                account="a", live_chat_id="c", now=0.0)
    assert isinstance(superchat.event, ChatMessage) and superchat.event.viewer.badge == "member"


def test_comment_thread_becomes_a_chat_message_keyed_by_the_top_level_comment():
    thread = {"id": "T1", "snippet": {"topLevelComment": {"id": "T1", "snippet": {
        "textOriginal": "price?", "authorDisplayName": "Ann", "authorChannelId": {"value": "UCann"},
        "publishedAt": "2024-05-01T10:00:00Z"}}}}
    event = thread_event(thread, account="a", video_id="vid", now=0.0)
    assert event is not None and event.event_id == "T1" and event.origin.key == "vid"
    assert event.viewer.user_id == "UCann" and event.text == "price?"


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (403, "quotaExceeded", RateLimited),
        (403, "rateLimitExceeded", RateLimited),
        (429, "", RateLimited),
        (401, "authError", AuthExpired),
        (403, "liveChatEnded", PermanentError),
        (403, "liveChatDisabled", PermanentError),
        (400, "commentTextTooLong", PermanentError),
        (403, "forbidden", PermanentError),
        (503, "backendError", TransientError),
        (500, "", TransientError),
    ],
)
def test_google_errors_become_typed_errors(status, reason, kind):
    error = typed_error(status, reason, "m", retry_after=None, until_reset=1234.0)
    assert isinstance(error, kind)
    if reason == "quotaExceeded":
        assert isinstance(error, RateLimited) and error.retry_after == 1234.0


def test_error_body_inside_a_200_list_is_not_mistaken_for_data():
    with pytest.raises(AuthExpired):
        parse_chat_page(b'{"error": {"code": 401, "errors": [{"reason": "authError"}]}}')


def test_quota_resets_at_midnight_pacific_and_budget_slows_pollers_down():
    # 2026-11-23 20:00 UTC = 12:00 PST; midnight PST is 08:00 UTC next day (12 h later)
    noon_pst = datetime(2026, 11, 23, 20, 0, tzinfo=UTC).timestamp()
    assert next_pacific_midnight(noon_pst) - noon_pst == 12 * 3600
    clock = [noon_pst]
    budget = QuotaBudget(10_000, reserve_units=1_000, horizon_s=24 * 3600, clock=lambda: clock[0])
    budget.register_poller()
    assert budget.can_spend(5) and budget.poll_delay(1.0, 5) == pytest.approx(12 * 3600 / (9_000 / 5))
    budget.spend(8_990)
    assert budget.remaining() == 1_010
    assert budget.can_spend(20) and not budget.can_spend(20, reserve=True)
    assert budget.poll_delay(1.0, 5) == pytest.approx(12 * 3600 / 2)  # 10 units over reserve: 2 calls in 12 h
    budget.exhaust()
    assert not budget.can_spend(1) and budget.poll_delay(1.0, 5) == pytest.approx(12 * 3600)
    clock[0] += 12 * 3600 + 1  # after midnight Pacific
    assert budget.remaining() == 10_000 and budget.used == 0


def test_pollers_pace_for_a_live_session_horizon_and_share_the_budget():
    budget = QuotaBudget(10_000, reserve_units=1_000, horizon_s=4 * 3600, clock=lambda: 0.0)
    if budget.seconds_until_reset() < 4 * 3600:
        pytest.skip("clock 0 is close to midnight Pacific")
    budget.register_poller()
    assert budget.poll_delay(1.0, 5) == pytest.approx(4 * 3600 / 1_800)  # 8 s between chat reads
    budget.register_poller()
    assert budget.poll_delay(1.0, 5) == pytest.approx(4 * 3600 / 900)
    assert budget.poll_delay(60.0, 5) == 60.0  # never faster than asked


def test_summer_time_midnight_pacific_is_07_utc():
    noon_pdt = datetime(2026, 7, 1, 19, 0, tzinfo=UTC).timestamp()
    assert datetime.fromtimestamp(next_pacific_midnight(noon_pdt), UTC).hour == 7


@pytest.mark.parametrize("value", ["2020-07-10T14:00:30.645000Z", "2024-07-31T16:17:37.17044+00:00",
                                   "2024-07-31T16:17:37Z", "2024-07-31T16:17:37.123456789Z"])
def test_timestamps_in_all_seen_forms_parse(value):
    assert parse_time(value) is not None


@pytest.mark.parametrize("value", ["", "yesterday", "2024-07-31T16:17:37", None, 5])
def test_bad_timestamps_are_none(value):
    assert parse_time(value) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
chat_items = st.fixed_dictionaries({}, optional={
    "id": json_values | st.text(max_size=10),
    "snippet": st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["textMessageEvent", "superChatEvent", "newSponsorEvent", "chatEndedEvent",
                                 "messageDeletedEvent", "weird"]) | json_values,
        "publishedAt": st.text(max_size=30) | json_values,
        "textMessageDetails": st.fixed_dictionaries({}, optional={"messageText": json_values}),
        "displayMessage": json_values,
    }),
    "authorDetails": json_values | st.dictionaries(st.sampled_from(["channelId", "displayName", "isChatOwner"]),
                                                   json_values),
})
pages = st.fixed_dictionaries({}, optional={
    "items": st.lists(chat_items, max_size=4) | json_values,
    "nextPageToken": json_values,
    "pollingIntervalMillis": json_values,
    "offlineAt": json_values | st.text(max_size=30),
    "error": json_values,
})


@settings(max_examples=150, deadline=500)
@given(st.one_of(st.binary(max_size=200), pages.map(lambda d: json.dumps(d).encode())))
def test_property_chat_pages_decode_or_raise_typed_errors(raw):
    try:
        page = parse_chat_page(raw)
    except ConnectorError:
        return
    assert page.polling_interval_s >= 0
    for entry in page.items:
        chat_item_event(entry, account="a", live_chat_id="c", now=1.0)


threads = st.fixed_dictionaries({}, optional={"id": json_values, "snippet": st.fixed_dictionaries({}, optional={
    "topLevelComment": json_values | st.fixed_dictionaries({}, optional={"id": json_values, "snippet": json_values})})})


@settings(max_examples=100, deadline=500)
@given(st.one_of(st.binary(max_size=200), st.fixed_dictionaries({}, optional={
    "items": st.lists(threads, max_size=4) | json_values, "nextPageToken": json_values}).map(
        lambda d: json.dumps(d).encode())))
def test_property_comment_threads_decode_or_raise_typed_errors(raw):
    try:
        page = parse_comment_threads(raw)
    except ConnectorError:
        return
    for thread in page.threads:
        thread_event(thread, account="a", video_id="v", now=1.0)


# ---- OAuth token endpoint -------------------------------------------------------------------


def test_a_refresh_answer_in_googles_shape_gives_the_token_and_its_expiry():
    raw = json.dumps({"access_token": "ya29.a0AfB_byC", "expires_in": 3599, "token_type": "Bearer",
                      "scope": "https://www.googleapis.com/auth/youtube.force-ssl"}).encode()
    token = parse_token_response(raw, now=1000.0)
    assert token.value == "ya29.a0AfB_byC" and token.expires_at == 4599.0 and token.lifetime_s == 3599
    assert token.scope.endswith("youtube.force-ssl") and token.refresh_token == ""


@pytest.mark.parametrize(
    "body",
    [b"<html>502 Bad Gateway</html>", b'{"expires_in": 3599}', b'{"access_token": "ya29.x", "token_type": "mac"}',
     b'{"access_token": "ya29.secret-in-body", "expires_in": "soon"}', b'{"access_token": "ya29.x", "expires_in": -5}'],
)
def test_a_malformed_refresh_answer_is_a_protocol_error_that_does_not_quote_the_token(body: bytes):
    with pytest.raises(ProtocolError) as error:
        parse_token_response(body, now=0.0)
    assert "secret-in-body" not in str(error.value) and error.value.excerpt == b""


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (400, b'{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}',
         AuthExpired, "authorise the app again"),
        (401, b'{"error": "invalid_client", "error_description": "Unauthorized"}', AuthExpired, "client_secret"),
        (400, b'{"error": "unsupported_grant_type"}', AuthExpired, "unsupported_grant_type"),
        (503, b"Service Unavailable", TransientError, "HTTP 503"),
        (500, b'{"error": "internal_failure"}', TransientError, "internal_failure"),
        (429, b"", RateLimited, "HTTP 429"),
    ],
)
def test_token_endpoint_errors_are_typed(status: int, body: bytes, kind: type, words: str):
    error = token_error(status, body, retry_after=7.0)
    assert isinstance(error, kind) and words in str(error)
    if isinstance(error, RateLimited | TransientError):
        assert error.retry_after == 7.0
