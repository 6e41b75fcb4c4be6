"""YouTube connector against its simulator on 127.0.0.1: chat in, replies out, echoes
recognised, quota honoured, faults survived."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from bot.connectors.base import Connector, OutgoingMessage
from bot.connectors.common import ReconnectPolicy
from bot.connectors.errors import AuthExpired, PermanentError, RateLimited, TransientError
from bot.connectors.replay.formats import RecordedLine
from bot.connectors.simkit import Fault, SimState, start_app
from bot.connectors.youtube import CONNECTOR
from bot.connectors.youtube.client import CommentThreadSource, LiveChatSource
from bot.connectors.youtube.simulator import (
    OWNER_CHANNEL,
    YouTubeSim,
    create_simulator,
    simulator_connector_config,
)
from handlers.events import ChatMessage, LiveEnded, SendEcho, SourceItem

CHAT, VIDEO = "Cg0KCzZwX0pNLUk3RlVnKic", "dQw4w9WgXcQ"


class Env:
    def __init__(self, sim: YouTubeSim, state: SimState, base: str) -> None:
        self.sim, self.state, self.base = sim, state, base
        self.connectors: list[Connector] = []

    def connector(self, **overrides: object) -> Connector:
        config = simulator_connector_config(self.base, [CHAT])
        config.pop("type")
        config.update({"video_ids": [VIDEO], "comment_poll_interval_s": 0.05, "reserve_units": 0,
                       "daily_quota_units": 10_000_000, **overrides})
        connector = CONNECTOR.build(CONNECTOR.settings_model(**config), "shop")
        for source in connector.sources:
            source._policy = ReconnectPolicy(initial_s=0.01, max_s=0.05)  # type: ignore[attr-defined]
        self.connectors.append(connector)
        return connector


async def start(script: list[RecordedLine], sim: YouTubeSim, *, end: bool = False):
    app, state = create_simulator(script, rooms=[CHAT], rate=500.0, videos=[VIDEO], sim=sim, end_when_script_done=end)
    runner, port = await start_app(app)
    return runner, state, f"http://127.0.0.1:{port}"


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    sim = YouTubeSim(polling_interval_ms=20)
    runner, state, base = await start([], sim)
    environment = Env(sim, state, base)
    yield environment
    for connector in environment.connectors:
        await connector.aclose()
    await runner.cleanup()


async def take(stream: AsyncIterator[SourceItem], n: int, wait_s: float = 5.0) -> list[SourceItem]:
    return [await asyncio.wait_for(anext(stream), wait_s) for _ in range(n)]


def source(connector: Connector, kind: type):
    return next(s for s in connector.sources if isinstance(s, kind))


async def test_a_scripted_live_chat_arrives_in_order_and_ends_at_offline_at():
    sim = YouTubeSim(polling_interval_ms=20)
    script = [RecordedLine("chat", f"how much is #{i}?", f"UCv{i}", f"viewer {i}", room=CHAT) for i in range(5)]
    runner, _, base = await start(script, sim, end=True)
    env = Env(sim, SimState("youtube"), base)
    connector = env.connector()
    try:
        items = [i async for i in source(connector, LiveChatSource).stream(None)]
        chats = [i.event for i in items if isinstance(i.event, ChatMessage)]
        assert [c.text for c in chats] == [f"how much is #{i}?" for i in range(5)]
        assert chats[0].viewer.user_id == "UCv0" and chats[0].viewer.nickname == "viewer 0"
        assert isinstance(items[-1].event, LiveEnded)
        assert connector.health.state == "offline"
    finally:
        await connector.aclose()
        await runner.cleanup()


async def test_polling_waits_polling_interval_millis_and_passes_the_page_token(env: Env):
    env.sim.polling_interval_ms = 700
    connector = env.connector()
    chat = source(connector, LiveChatSource)
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0.01)

    chat._sleep = record
    env.sim.chat_message(CHAT, "UCa", "a", "first")
    stream = chat.stream(None)
    (first,) = await take(stream, 1)
    env.sim.chat_message(CHAT, "UCb", "b", "second")
    (second,) = await take(stream, 1)
    assert second.event.text == "second"
    assert delays and all(d >= 0.7 for d in delays)
    assert first.cursor and second.cursor and first.cursor != second.cursor and "#" not in second.cursor
    await stream.aclose()


async def test_a_restart_in_the_middle_of_a_page_resumes_after_the_last_committed_message(env: Env):
    for i in range(4):
        env.sim.chat_message(CHAT, f"UC{i}", f"v{i}", f"m{i}")
    stream = source(env.connector(), LiveChatSource).stream(None)
    taken = await take(stream, 2)
    await stream.aclose()
    assert "#" in (taken[-1].cursor or "")  # mid-page position
    restarted = source(env.connector(), LiveChatSource).stream(taken[-1].cursor)
    rest = await take(restarted, 2)
    assert [i.event.text for i in taken + rest] == ["m0", "m1", "m2", "m3"]
    await restarted.aclose()


async def test_our_chat_reply_is_recorded_echoed_and_recognised_never_answered(env: Env):
    connector = env.connector()
    stream = source(connector, LiveChatSource).stream(None)
    env.sim.chat_message(CHAT, "UCbuyer", "buyer", "how much?")
    (question,) = await take(stream, 1)
    sender = connector.sender
    assert sender is not None
    receipt = await sender.send(OutgoingMessage("reply-1", "youtube", "shop", "live_chat", CHAT, "@buyer $25, link #3"))
    assert receipt.echo_expected and receipt.cost_units == 20 and receipt.platform_message_id
    again = await sender.send(OutgoingMessage("reply-1", "youtube", "shop", "live_chat", CHAT, "@buyer $25, link #3"))
    assert again.platform_message_id == receipt.platform_message_id
    assert len(env.state.sends.sends) == 1 and env.state.sends.duplicates == 1
    echoed, echo = await take(stream, 2)
    assert isinstance(echoed.event, ChatMessage) and echoed.event.is_self
    assert echoed.event.viewer.user_id == OWNER_CHANNEL
    assert isinstance(echo.event, SendEcho) and echo.event.idempotency_key == "reply-1"
    assert sender.quota.used >= 20 + 20 + 5  # type: ignore[attr-defined]
    await stream.aclose()


async def test_new_comments_are_polled_newest_last_and_replied_to(env: Env):
    for i in range(3):
        env.sim.comment_thread(VIDEO, f"UCc{i}", f"c{i}", f"old comment {i}")
    connector = env.connector(comment_backfill=2)
    stream = source(connector, CommentThreadSource).stream(None)
    backfill = await take(stream, 2)
    assert [i.event.text for i in backfill] == ["old comment 1", "old comment 2"]
    env.sim.comment_thread(VIDEO, "UCnew", "new", "is the blue one in stock?")
    env.sim.comment_thread(VIDEO, "UCnew2", "new2", "price?")
    new = await take(stream, 2)
    assert [i.event.text for i in new] == ["is the blue one in stock?", "price?"]
    await stream.aclose()
    # restart from the committed cursor: nothing old again, the next new comment only
    env.sim.comment_thread(VIDEO, "UCnew3", "new3", "ship to Canada?")
    restarted = source(env.connector(), CommentThreadSource).stream(new[-1].cursor)
    (after,) = await take(restarted, 1)
    assert after.event.text == "ship to Canada?"
    await restarted.aclose()
    sender = connector.sender
    assert sender is not None
    receipt = await sender.send(OutgoingMessage("c-1", "youtube", "shop", "public_reply", VIDEO, "Yes, in stock!",
                                                reply_to_message_id=after.event.event_id))
    assert receipt.cost_units == 50 and env.state.sends.sends[-1].target == after.event.event_id


async def test_quota_exceeded_is_rate_limited_until_midnight_pacific(env: Env):
    env.sim.quota_limit = 30
    sender = env.connector().sender
    assert sender is not None
    await sender.send(OutgoingMessage("q1", "youtube", "shop", "live_chat", CHAT, "one"))
    with pytest.raises(RateLimited) as limited:
        await sender.send(OutgoingMessage("q2", "youtube", "shop", "live_chat", CHAT, "two"))
    quota = sender.quota  # type: ignore[attr-defined]
    assert limited.value.retry_after == pytest.approx(quota.seconds_until_reset(), abs=5)
    assert limited.value.retry_after > 0 and quota.remaining() == 0
    calls = env.sim.quota_used
    with pytest.raises(RateLimited):  # our own budget now refuses before calling
        await sender.send(OutgoingMessage("q3", "youtube", "shop", "live_chat", CHAT, "three"))
    assert env.sim.quota_used == calls


async def test_send_errors_are_typed(env: Env):
    sender = env.connector().sender
    assert sender is not None
    msg = OutgoingMessage("e", "youtube", "shop", "live_chat", CHAT, "hi")
    rate = json.dumps({"error": {"code": 403, "errors": [{"reason": "rateLimitExceeded"}]}})
    env.state.faults.add(Fault("status", 403, body=rate, retry_after=3))
    with pytest.raises(RateLimited) as limited:
        await sender.send(msg)
    assert limited.value.retry_after == 3
    env.state.faults.add(Fault("status", 503), count=2)
    for _ in range(2):
        with pytest.raises(TransientError):
            await sender.send(msg)
    env.state.faults.add(Fault("status", 429, retry_after=9))
    with pytest.raises(RateLimited) as too_many:
        await sender.send(msg)
    assert too_many.value.retry_after == 9
    with pytest.raises(PermanentError):
        await sender.send(OutgoingMessage("long", "youtube", "shop", "live_chat", CHAT, "x" * 201))
    with pytest.raises(PermanentError):
        await sender.send(OutgoingMessage("dm", "youtube", "shop", "private_message", "UCx", "hi"))
    env.sim.end(CHAT)
    with pytest.raises(PermanentError, match="liveChatEnded"):
        await sender.send(OutgoingMessage("ended", "youtube", "shop", "live_chat", CHAT, "hi"))
    env.sim.revoked = True
    with pytest.raises(AuthExpired):
        await sender.send(OutgoingMessage("auth", "youtube", "shop", "live_chat", CHAT, "hi"))
    assert env.state.sends.sends == []


async def test_poller_survives_5xx_garbage_truncation_and_drops_without_loss_or_duplicates(env: Env):
    connector = env.connector()
    stream = source(connector, LiveChatSource).stream(None)
    env.sim.chat_message(CHAT, "UC1", "a", "m0")
    await take(stream, 1)
    env.state.faults.add(Fault("status", 500), count=3)
    env.state.faults.add(Fault("garbage"))
    env.state.faults.add(Fault("truncate"))
    env.state.faults.add(Fault("drop"))
    for i in range(1, 4):
        env.sim.chat_message(CHAT, f"UC{i}", "v", f"m{i}")
    rest = await take(stream, 3)
    assert [i.event.text for i in rest] == ["m1", "m2", "m3"]
    # (a dropped keep-alive connection may be retried by aiohttp itself, so it need not count)
    assert connector.health.reconnects >= 5 and connector.health.malformed_frames >= 2
    await stream.aclose()


async def test_a_revoked_token_stops_the_poller_with_auth_expired(env: Env):
    connector = env.connector()
    env.sim.revoked = True
    assert [i async for i in source(connector, LiveChatSource).stream(None)] == []
    assert connector.health.state == "auth_expired"


async def test_a_chat_that_ended_yields_live_ended(env: Env):
    connector = env.connector(live_chat_ids=["gone"])
    env.sim.chats["gone"] = []
    env.sim.end("gone")
    items = [i async for i in source(connector, LiveChatSource).stream(None)]
    assert len(items) == 1 and isinstance(items[0].event, LiveEnded)


async def test_membership_events_are_counted_not_greeted(env: Env):
    connector = env.connector()
    sponsor = env.sim.chat_message(CHAT, "UCm", "member", "")
    sponsor["snippet"] = {"type": "newSponsorEvent", "liveChatId": CHAT, "publishedAt": "2024-01-01T00:00:00Z"}
    env.sim.chat_message(CHAT, "UCx", "x", "after")
    stream = source(connector, LiveChatSource).stream(None)
    (after,) = await take(stream, 1)
    assert after.event.text == "after" and connector.health.extra["skipped_newSponsorEvent"] == 1
    await stream.aclose()


async def test_read_only_api_key_config_cannot_send():
    with pytest.raises(ValueError, match="api_key"):
        CONNECTOR.settings_model(live_chat_ids=[CHAT])
    connector = CONNECTOR.build(CONNECTOR.settings_model(api_key="k", live_chat_ids=[CHAT]), "shop")
    with pytest.raises(PermanentError, match="OAuth"):
        await connector.sender.send(OutgoingMessage("x", "youtube", "shop", "live_chat", CHAT, "hi"))  # type: ignore[union-attr]
    await connector.aclose()


async def test_a_hanging_server_is_cut_off_by_the_request_timeout_and_polling_resumes(env: Env):
    connector = env.connector(request_timeout_s=0.2)
    stream = source(connector, LiveChatSource).stream(None)
    env.sim.chat_message(CHAT, "UC1", "a", "before")
    await take(stream, 1)
    env.state.faults.add(Fault("silence", seconds=1.0))
    env.sim.chat_message(CHAT, "UC2", "b", "after the silence")
    (after,) = await take(stream, 1)
    assert after.event.text == "after the silence" and connector.health.reconnects >= 1
    await stream.aclose()
