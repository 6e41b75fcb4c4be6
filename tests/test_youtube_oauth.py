"""A merchant runs the YouTube connector for days on a refresh token: access tokens (1 hour at
Google, under a second here) are renewed behind the pollers' and the sender's backs, once for
all of them, with back-off when Google's token endpoint is down, a clear "authorise again" when
the merchant revoked the app, and a token file that spares a refresh after a restart.

Everything runs against the simulator's ``/token`` endpoint on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.connectors.base import Connector, ConnectorHealth, OutgoingMessage
from bot.connectors.common import ReconnectPolicy
from bot.connectors.errors import AuthExpired, RateLimited, TransientError
from bot.connectors.simkit import Fault, start_app
from bot.connectors.youtube import CONNECTOR
from bot.connectors.youtube.client import LiveChatSource
from bot.connectors.youtube.codec import AccessToken
from bot.connectors.youtube.simulator import YouTubeSim, create_simulator, simulator_connector_config
from bot.connectors.youtube.tokens import OAuthTokens, TokenEndpoint
from bot.logs import scrub
from handlers.events import ChatMessage, SourceItem

CHAT = "Cg0KCzZwX0pNLUk3RlVnKic"


class World:
    def __init__(self, sim: YouTubeSim, base: str) -> None:
        self.sim, self.base = sim, base
        self.closers: list[Connector | OAuthTokens] = []

    def config(self, **overrides: object) -> dict[str, object]:
        config = simulator_connector_config(self.base, [CHAT])
        config.pop("type")
        config.update({"reserve_units": 0, "daily_quota_units": 10_000_000, **overrides})
        return config

    def connector(self, **overrides: object) -> Connector:
        connector = CONNECTOR.build(CONNECTOR.settings_model(**self.config(**overrides)), "shop")
        for source in connector.sources:
            source._policy = ReconnectPolicy(initial_s=0.01, max_s=0.05)  # type: ignore[attr-defined]
        self.closers.append(connector)
        return connector

    def tokens(self, health: ConnectorHealth, **kwargs: object) -> OAuthTokens:
        tokens = OAuthTokens(
            TokenEndpoint(f"{self.base}/token"),
            client_id=self.sim.client_id,
            client_secret=self.sim.client_secret,
            refresh_token=self.sim.refresh_token,
            health=health,
            **kwargs,  # type: ignore[arg-type]
        )
        self.closers.append(tokens)
        return tokens


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sim = YouTubeSim(polling_interval_ms=20)
    app, _ = create_simulator([], rooms=[CHAT], rate=500.0, sim=sim, end_when_script_done=False)
    runner, port = await start_app(app)
    env = World(sim, f"http://127.0.0.1:{port}")
    yield env
    for closer in env.closers:
        await closer.aclose()
    await runner.cleanup()


def chat_source(connector: Connector) -> LiveChatSource:
    return next(s for s in connector.sources if isinstance(s, LiveChatSource))


def say(text: str, n: int) -> OutgoingMessage:
    return OutgoingMessage(f"reply-{n}", "youtube", "shop", "live_chat", CHAT, text)


async def viewers_only(stream: AsyncIterator[SourceItem], n: int, wait_s: float = 5.0) -> list[ChatMessage]:
    """The next ``n`` chat lines written by viewers (our own echoed replies are skipped)."""
    taken: list[ChatMessage] = []
    while len(taken) < n:
        item = await asyncio.wait_for(anext(stream), wait_s)
        if isinstance(item.event, ChatMessage) and not item.event.is_self:
            taken.append(item.event)
    return taken


async def test_a_live_session_outlasts_many_access_tokens_and_no_401_reaches_the_pipeline(world: World):
    world.sim.access_token_lifetime_s = 0.6
    connector = world.connector()
    sender = connector.sender
    assert sender is not None
    stream = chat_source(connector).stream(None)
    asked: list[str] = []
    try:
        for n in range(12):  # about 3 s: five token lifetimes
            text = f"price of #{n}?"
            world.sim.chat_message(CHAT, f"UCv{n}", f"viewer {n}", text)
            asked.append(text)
            (question,) = await viewers_only(stream, 1)
            assert question.text == text
            receipt = await sender.send(say(f"@viewer {n} $25", n))
            assert receipt.platform_message_id
            if n == 6:
                world.sim.expire_access_tokens()  # dies early: only the 401 path can notice
            await asyncio.sleep(0.25)
    finally:
        await stream.aclose()
    replies = [m["snippet"]["displayMessage"] for m in world.sim.chats[CHAT] if m["authorDetails"]["isChatOwner"]]
    assert replies == [f"@viewer {n} $25" for n in range(12)]
    assert world.sim.token_refreshes >= 4, "several access tokens were used up and renewed"
    assert connector.health.extra["token_refreshes"] == world.sim.token_refreshes
    assert world.sim.expired_rejections >= 1, "the early expiry was met by a 401 ..."
    assert connector.health.reconnects == 0, "... which was retried inside the call, never surfaced"
    assert connector.health.state == "live" and connector.health.last_error is None
    expires = connector.health.credential_expires_at
    assert expires is not None and time.time() - 1 < expires <= time.time() + 0.7


async def test_pollers_and_sender_arriving_together_share_one_refresh(world: World):
    world.sim.token_delay_s = 0.2  # the refresh is still in flight when the others arrive
    tokens = world.tokens(ConnectorHealth())
    handed = await asyncio.gather(*(tokens.current() for _ in range(20)))
    assert len(set(handed)) == 1 and world.sim.token_calls == 1

    # the API turns the token down (expired early) while the poller and ten sends are using it:
    # one refresh for all of them, and nobody sees the 401
    connector = world.connector()
    sender = connector.sender
    assert sender is not None
    stream = chat_source(connector).stream(None)
    world.sim.chat_message(CHAT, "UCa", "a", "first")
    await viewers_only(stream, 1)
    await sender.send(say("warm up", 0))
    calls = world.sim.token_calls
    world.sim.expire_access_tokens()
    world.sim.chat_message(CHAT, "UCb", "b", "second")
    polled, *receipts = await asyncio.gather(viewers_only(stream, 1),
                                             *(sender.send(say(f"reply {n}", n)) for n in range(1, 11)))
    await stream.aclose()
    assert [m.text for m in polled] == ["second"]
    assert all(r.platform_message_id for r in receipts)
    assert world.sim.token_calls == calls + 1 and world.sim.expired_rejections >= 1
    assert connector.health.reconnects == 0


async def test_a_caller_that_gives_up_does_not_cancel_the_refresh_the_others_wait_for(world: World):
    world.sim.token_delay_s = 0.3
    tokens = world.tokens(ConnectorHealth())
    impatient = asyncio.create_task(tokens.current())
    patient = asyncio.create_task(tokens.current())
    await asyncio.sleep(0.05)
    impatient.cancel()
    assert (await patient).startswith("ya29.sim-")
    assert world.sim.token_calls == 1


async def test_the_merchant_revoking_the_app_stops_with_auth_expired_and_says_to_authorise_again(world: World):
    connector = world.connector()
    sender = connector.sender
    assert sender is not None
    stream = chat_source(connector).stream(None)
    world.sim.chat_message(CHAT, "UCa", "a", "hello")
    await viewers_only(stream, 1)
    world.sim.revoke_refresh_token()  # kills the grant and the access tokens minted from it
    rest = [item async for item in stream]  # the poller stops on its own
    assert rest == []
    assert connector.health.state == "auth_expired"
    assert "revoked or has expired" in (connector.health.last_error or "")
    assert "authorise the app again" in (connector.health.last_error or "")
    calls = world.sim.token_calls
    for n in range(3):
        with pytest.raises(AuthExpired, match="authorise the app again"):
            await sender.send(say("too late", n))
    assert world.sim.token_calls == calls, "a dead refresh token is not tried again and again"
    assert world.sim.list_calls > 0 and world.sim.chats[CHAT][-1]["snippet"]["displayMessage"] == "hello"


async def test_with_an_api_key_too_the_chat_is_still_read_after_a_revocation_but_nothing_is_sent(world: World):
    connector = world.connector(api_key=world.sim.api_key)
    sender = connector.sender
    assert sender is not None
    stream = chat_source(connector).stream(None)
    world.sim.chat_message(CHAT, "UCa", "a", "hello")
    await viewers_only(stream, 1)
    world.sim.revoke_refresh_token()
    world.sim.chat_message(CHAT, "UCb", "b", "多少钱")
    world.sim.chat_message(CHAT, "UCc", "c", "几号链接")
    later = await viewers_only(stream, 2)
    assert [m.text for m in later] == ["多少钱", "几号链接"], "leads keep being captured with the api_key"
    with pytest.raises(AuthExpired, match="authorise the app again"):
        await sender.send(say("reply", 0))
    assert "authorise the app again" in (connector.health.last_error or "")
    assert world.sim.chats[CHAT][-1]["snippet"]["displayMessage"] == "几号链接", "nothing was sent"
    await stream.aclose()


async def test_without_an_api_key_a_refused_read_is_not_retried_with_one(world: World):
    connector = world.connector()
    stream = chat_source(connector).stream(None)
    world.sim.chat_message(CHAT, "UCa", "a", "hello")
    await viewers_only(stream, 1)
    world.sim.revoke_refresh_token()
    assert [item async for item in stream] == []
    assert connector.health.state == "auth_expired"


async def test_access_withdrawn_but_refresh_still_working_surfaces_after_one_retry(world: World):
    sender = world.connector().sender
    assert sender is not None
    await sender.send(say("first", 0))
    world.sim.revoked = True  # every bearer token is refused, fresh ones too
    calls = world.sim.token_calls
    with pytest.raises(AuthExpired):
        await sender.send(say("second", 1))
    assert world.sim.token_calls == calls + 1, "one refresh, one retry"
    with pytest.raises(AuthExpired):
        await sender.send(say("third", 2))
    assert world.sim.token_calls == calls + 1, "a token minted moments ago is not renewed again"


async def test_a_wrong_client_secret_is_auth_expired_naming_the_client_settings(world: World):
    sender = world.connector(client_secret="not-the-secret").sender
    assert sender is not None
    with pytest.raises(AuthExpired, match="client_id/client_secret"):
        await sender.send(say("hi", 0))


async def test_the_token_endpoint_down_is_retried_with_backoff_never_hammered(world: World):
    health = ConnectorHealth()
    tokens = world.tokens(health, backoff=ReconnectPolicy(initial_s=0.2, max_s=1.0, jitter=0.0))
    world.sim.token_faults.add(Fault("status", 503), count=2)
    with pytest.raises(TransientError):
        await tokens.current()
    for _ in range(10):  # callers inside the back-off window do not reach the endpoint
        with pytest.raises(TransientError, match="next token refresh attempt"):
            await tokens.current()
    assert world.sim.token_calls == 1
    await asyncio.sleep(0.25)
    with pytest.raises(TransientError):  # second 503; the window doubles
        await tokens.current()
    await asyncio.sleep(0.25)
    with pytest.raises(TransientError):
        await tokens.current()
    assert world.sim.token_calls == 2
    await asyncio.sleep(0.2)
    assert (await tokens.current()).startswith("ya29.sim-")
    assert world.sim.token_calls == 3 and tokens.refreshes == 1

    world.sim.token_faults.add(Fault("status", 429, retry_after=30))
    token = await tokens.current()
    tokens.accepted(token)  # it worked for a while, then the API refused it
    with pytest.raises(RateLimited) as limited:
        await tokens.rejected(token)
    assert limited.value.retry_after == pytest.approx(30, abs=1)
    with pytest.raises(RateLimited):
        await tokens.current()
    assert world.sim.token_calls == 4


async def test_while_the_token_endpoint_is_down_the_current_token_is_used_until_it_runs_out(world: World):
    health = ConnectorHealth()
    now = time.time()
    seed = AccessToken("ya29.still-good-for-a-while", now + 100, lifetime_s=3600)  # due: < 300 s left
    tokens = world.tokens(health, seed=seed)
    world.sim.token_faults.add(Fault("status", 500))
    assert await tokens.current() == seed.value
    assert "HTTP 500" in (health.last_error or "") and world.sim.token_calls == 1
    assert await tokens.current() == seed.value and world.sim.token_calls == 1  # backing off, still served


async def test_a_poller_recovers_by_itself_after_the_token_endpoint_answered_503(world: World):
    world.sim.token_faults.add(Fault("status", 503))
    connector = world.connector()
    world.sim.chat_message(CHAT, "UCa", "a", "anyone there?")
    stream = chat_source(connector).stream(None)
    (question,) = await viewers_only(stream, 1, wait_s=10.0)
    await stream.aclose()
    assert question.text == "anyone there?"
    assert world.sim.token_calls == 2 and connector.health.reconnects >= 1


async def test_the_token_file_is_private_and_spares_a_refresh_after_a_restart(world: World, tmp_path: Path):
    token_file = tmp_path / "state" / "youtube_tokens.json"
    first = world.connector(token_file=str(token_file))
    assert first.sender is not None
    await first.sender.send(say("before the restart", 0))
    await first.aclose()
    assert world.sim.token_refreshes == 1
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    saved = json.loads(token_file.read_text(encoding="utf-8"))
    assert saved["access_token"] == world.sim.minted[-1] and saved["expires_at"] > time.time()
    raw = token_file.read_text(encoding="utf-8")
    assert world.sim.refresh_token not in raw and world.sim.client_secret not in raw
    assert [p.name for p in token_file.parent.iterdir()] == [token_file.name], "no temp file left behind"

    second = world.connector(token_file=str(token_file))
    assert second.sender is not None
    await second.sender.send(say("after the restart", 1))
    assert world.sim.token_refreshes == 1, "the saved token was reused"
    assert second.health.credential_expires_at == pytest.approx(saved["expires_at"])

    # the merchant authorised again: the file belongs to the old grant and is not used
    world.sim.refresh_token = "1//sim-refresh-token-reauthorised"
    third = world.connector(token_file=str(token_file), refresh_token=world.sim.refresh_token)
    assert third.sender is not None
    await third.sender.send(say("new grant", 2))
    assert world.sim.token_refreshes == 2


async def test_an_expired_token_file_is_refreshed_not_used(world: World, tmp_path: Path):
    token_file = tmp_path / "tokens.json"
    world.sim.access_token_lifetime_s = 0.3
    first = world.connector(token_file=str(token_file))
    assert first.sender is not None
    await first.sender.send(say("one", 0))
    await first.aclose()
    await asyncio.sleep(0.4)
    second = world.connector(token_file=str(token_file))
    assert second.sender is not None
    await second.sender.send(say("two", 1))
    assert world.sim.token_refreshes == 2 and world.sim.expired_rejections == 0


async def test_no_access_token_refresh_token_or_client_secret_is_ever_logged(world: World, caplog):
    caplog.set_level(logging.DEBUG)
    world.sim.access_token_lifetime_s = 0.3
    connector = world.connector()
    sender = connector.sender
    assert sender is not None
    stream = chat_source(connector).stream(None)
    world.sim.token_faults.add(Fault("status", 503, body='{"error": "backendError"}'))
    world.sim.chat_message(CHAT, "UCa", "a", "hello")
    await viewers_only(stream, 1, wait_s=10.0)
    for n in range(3):
        await sender.send(say(f"reply {n}", n))
        await asyncio.sleep(0.2)
    world.sim.revoke_refresh_token()
    assert [item async for item in stream] == []
    with pytest.raises(AuthExpired):
        await sender.send(say("after revocation", 9))
    assert len(world.sim.minted) >= 2
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "token renewed" in text and "refresh failed" in text and "authorise the app again" in text
    for secret in [*world.sim.minted, world.sim.refresh_token, world.sim.client_secret]:
        assert secret not in text
        assert scrub(f"x {secret} y") == "x *** y", "registered, so the log filter would catch a slip too"
