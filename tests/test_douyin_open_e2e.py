"""Douyin Open connector against its simulator on 127.0.0.1: comments in, replies and DMs out,
webhooks signed and de-duplicated, tokens refreshed and persisted, faults survived."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.connectors.base import Connector, OutgoingMessage
from bot.connectors.douyin_open import CONNECTOR
from bot.connectors.douyin_open.client import BAD_SIGNATURES, WebhookSource
from bot.connectors.douyin_open.simulator import (
    DouyinOpenSim,
    create_simulator,
    post_signed_webhook,
    simulator_connector_config,
)
from bot.connectors.errors import AuthExpired, PermanentError, RateLimited, TransientError
from bot.connectors.replay.formats import RecordedLine
from bot.connectors.simkit import Fault, start_app
from handlers.events import ChatMessage, DirectMessage, Follow, SourceItem
from tests.douyin_open_world import ITEM, Env, douyin_open_world, mount_receiver


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with douyin_open_world(tmp_path) as world:
        yield world


async def take(stream: AsyncIterator[SourceItem], n: int, wait_s: float = 5.0) -> list[SourceItem]:
    return [await asyncio.wait_for(anext(stream), wait_s) for _ in range(n)]


def comment_source(connector: Connector):
    return next(s for s in connector.sources if s.key.startswith("douyin_open:video:"))


async def test_new_comments_arrive_in_order_and_a_restart_resumes_without_repeats(env: Env):
    for i in range(5):
        env.sim.add_comment(ITEM, f"u{i}", f"viewer{i}", f"第{i}条 多少钱")
    connector = env.connector(page_size=2)
    stream = comment_source(connector).stream(None)
    items = await take(stream, 3)
    assert [i.event.text for i in items] == ["第0条 多少钱", "第1条 多少钱", "第2条 多少钱"]
    assert all(isinstance(i.event, ChatMessage) and i.event.origin.key == ITEM for i in items)
    await stream.aclose()

    # "crash": a fresh connector resumes from the last committed cursor
    env.sim.add_comment(ITEM, "u9", "late", "几号链接")
    restarted = comment_source(env.connector(page_size=2)).stream(items[-1].cursor)
    rest = await take(restarted, 3)
    assert [i.event.text for i in rest] == ["第3条 多少钱", "第4条 多少钱", "几号链接"]
    env.sim.add_comment(ITEM, "u10", "later", "有货吗")
    (newest,) = await take(restarted, 1)
    assert newest.event.text == "有货吗"
    await restarted.aclose()


async def test_tokens_are_refreshed_ahead_of_expiry_and_persisted_owner_only(env: Env):
    env.sim.access_ttl_s = 15 * 86400
    env.sim.add_comment(ITEM, "u1", "a", "hi")
    connector = env.connector()
    stream = comment_source(connector).stream(None)
    await take(stream, 1)
    token_file = env.tmp / "tokens.json"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    stored = json.loads(token_file.read_text())
    assert stored["access_token"].startswith("act.sim") and stored["refresh_token"] == "rft.sim-seed"
    assert connector.health.credential_expires_at == pytest.approx(stored["refresh_expires_at"])
    refreshes = env.sim.calls["/oauth/refresh_token/"]
    # 14.5 days later less than a day is left: the next call refreshes first
    env.sim.advance(14.5 * 86400)
    connector.sources[0]._api.tokens._clock = lambda: env.sim.now()  # type: ignore[attr-defined]
    env.sim.add_comment(ITEM, "u2", "b", "still here")
    await take(stream, 1)
    assert env.sim.calls["/oauth/refresh_token/"] == refreshes + 1
    assert json.loads(token_file.read_text())["access_token"] != stored["access_token"]
    await stream.aclose()


async def test_an_expired_refresh_token_stops_with_a_re_authorise_message(env: Env, caplog):
    env.sim.refresh_tokens["rft.sim-seed"] = 0.0  # expired long ago
    connector = env.connector()
    reply = OutgoingMessage("k1", "douyin_open", "shop", "public_reply", ITEM, "您好")
    with pytest.raises(AuthExpired, match="re-authorise"):
        await connector.sender.send(reply)  # type: ignore[union-attr]
    stream = comment_source(connector).stream(None)
    with caplog.at_level(logging.ERROR):
        assert [i async for i in stream] == []
    assert connector.health.state == "auth_expired"


async def test_refresh_token_close_to_expiry_is_warned_in_the_log(env: Env, caplog):
    env.sim.refresh_tokens["rft.sim-seed"] = env.sim.now() + 2 * 86400
    connector = env.connector()
    with caplog.at_level(logging.WARNING):
        receipt = await connector.sender.send(  # type: ignore[union-attr]
            OutgoingMessage("k1", "douyin_open", "shop", "public_reply", ITEM, "您好", reply_to_message_id="@c1")
        )
    assert receipt.platform_message_id
    assert any("re-authorise" in r.getMessage() for r in caplog.records)
    assert connector.health.credential_expires_at == pytest.approx(env.sim.refresh_tokens["rft.sim-seed"], abs=2)


async def test_a_comment_reply_is_recorded_once_even_when_the_outbox_retries(env: Env):
    sender = env.connector().sender
    message = OutgoingMessage("idem-1", "douyin_open", "shop", "public_reply", ITEM, "5号链接 ¥99", reply_to_message_id="@c1")
    first = await sender.send(message)  # type: ignore[union-attr]
    second = await sender.send(message)  # type: ignore[union-attr]
    assert first.platform_message_id == second.platform_message_id
    assert len(env.state.sends.sends) == 1 and env.state.sends.duplicates == 1
    assert env.state.sends.sends[0].text == "5号链接 ¥99" and env.state.sends.sends[0].recipient == "@c1"


async def test_a_dm_opens_a_window_the_sender_replies_in_and_a_stranger_is_refused(env: Env):
    connector = env.connector()
    url, runner, _ = await mount_receiver(connector)
    env.sim.webhook_url = url
    try:
        source = next(s for s in connector.sources if isinstance(s, WebhookSource))
        stream = source.stream(None)
        dm_body, server_id = env.sim.dm_body("buyer-1", "小王", "多少钱")
        assert await post_signed_webhook(url, env.sim.client_secret, dm_body, msg_id="m-1") == 200
        (item,) = await take(stream, 1)
        assert isinstance(item.event, DirectMessage) and item.event.event_id == server_id
        sender = connector.sender
        assert sender is not None
        await sender.send(OutgoingMessage("dm-1", "douyin_open", "shop", "private_message", "buyer-1", "在的，99元"))
        assert env.state.sends.sends[-1].recipient == "buyer-1"
        with pytest.raises(PermanentError, match="no open DM window"):
            await sender.send(OutgoingMessage("dm-2", "douyin_open", "shop", "private_message", "stranger", "hi"))
        assert len(env.state.sends.sends) == 1  # refused before calling the platform
        # 25 hours later the window is closed on both sides
        sender._clock = lambda: env.sim.now() + 25 * 3600  # type: ignore[attr-defined]
        with pytest.raises(PermanentError, match="no open DM window"):
            await sender.send(OutgoingMessage("dm-3", "douyin_open", "shop", "private_message", "buyer-1", "还在吗"))
        await stream.aclose()
    finally:
        await runner.cleanup()


async def test_simulator_refuses_a_dm_after_24h_even_if_the_client_tried(env: Env):
    connector = env.connector()
    url, runner, receiver = await mount_receiver(connector)
    try:
        body, _ = env.sim.dm_body("buyer-2", "b", "hi")
        await post_signed_webhook(url, env.sim.client_secret, body, msg_id="m-2")
        env.sim.advance(25 * 3600)
        # pretend our side still believed the window was open: the platform must still refuse
        window = receiver.windows._by_user["buyer-2"]
        receiver.windows.open(dataclasses.replace(window, until=env.sim.now() + 100))
        with pytest.raises(PermanentError, match="24 h"):
            await connector.sender.send(  # type: ignore[union-attr]
                OutgoingMessage("dm-x", "douyin_open", "shop", "private_message", "buyer-2", "late")
            )
    finally:
        await runner.cleanup()


async def test_webhooks_bad_signature_is_403_and_counted_msg_id_repeats_are_dropped(env: Env):
    connector = env.connector()
    url, runner, receiver = await mount_receiver(connector)
    try:
        follow = env.sim.follow_body("fan-1")
        assert await post_signed_webhook(url, "wrong-secret", follow, msg_id="f-1") == 403
        assert await post_signed_webhook(url, env.sim.client_secret, follow, signature="") == 403
        assert connector.health.extra[BAD_SIGNATURES] == 2
        assert receiver.queue.empty()
        for _ in range(3):  # the platform retries up to 3 times with the same Msg-Id
            assert await post_signed_webhook(url, env.sim.client_secret, follow, msg_id="f-1") == 200
        assert receiver.queue.qsize() == 1 and connector.health.duplicates_dropped == 2
        event, _ = receiver.queue.get_nowait()
        assert isinstance(event, Follow) and event.viewer.user_id == "fan-1"
        # URL verification echoes the challenge
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=b'{"event":"verify_webhook","client_key":"","content":{"challenge":12345}}') as r:
                assert r.status == 200 and await r.json() == {"challenge": 12345}
        # garbage signed correctly: 400, counted, receiver keeps working
        assert await post_signed_webhook(url, env.sim.client_secret, b"\x00garbage") == 400
        assert connector.health.malformed_frames == 1
        assert await post_signed_webhook(url, env.sim.client_secret, env.sim.follow_body("fan-2"), msg_id="f-2") == 200
    finally:
        await runner.cleanup()


async def test_send_errors_are_typed_429_with_retry_after_and_5xx(env: Env):
    sender = env.connector().sender
    assert sender is not None
    await sender.send(OutgoingMessage("warm-up", "douyin_open", "shop", "public_reply", ITEM, "hello"))
    message = OutgoingMessage("k", "douyin_open", "shop", "public_reply", ITEM, "hi")
    env.state.faults.add(Fault("status", 429, retry_after=7))
    with pytest.raises(RateLimited) as limited:
        await sender.send(message)
    assert limited.value.retry_after == 7
    env.state.faults.add(Fault("status", 503))
    with pytest.raises(TransientError):
        await sender.send(message)
    env.state.faults.add(Fault("garbage"))
    with pytest.raises(TransientError):
        await sender.send(message)
    with pytest.raises(PermanentError):
        await sender.send(OutgoingMessage("k2", "douyin_open", "shop", "live_chat", ITEM, "hi"))
    assert [s.idempotency_key for s in env.state.sends.sends] == ["warm-up"]
    await sender.send(message)
    assert len(env.state.sends.sends) == 2


async def test_poller_survives_5xx_bursts_garbage_and_rate_limits_without_loss_or_duplicates(env: Env):
    from bot.connectors.common import ReconnectPolicy
    connector = env.connector()
    source = comment_source(connector)
    source._policy = ReconnectPolicy(initial_s=0.01, max_s=0.05)  # type: ignore[attr-defined]
    for i in range(3):
        env.sim.add_comment(ITEM, f"u{i}", "v", f"c{i}")
    stream = source.stream(None)
    first = await take(stream, 2)
    env.state.faults.add(Fault("status", 502), count=3)
    env.state.faults.add(Fault("garbage"))
    env.state.faults.add(Fault("truncate"))
    env.state.faults.add(Fault("status", 429, retry_after=0.01))
    for i in range(3, 6):
        env.sim.add_comment(ITEM, f"u{i}", "v", f"c{i}")
    rest = await take(stream, 4)
    texts = [i.event.text for i in first + rest]
    assert texts == [f"c{i}" for i in range(6)]
    assert connector.health.reconnects >= 6 and connector.health.malformed_frames >= 2
    await stream.aclose()


async def test_scripted_comments_and_injected_follows_flow_end_to_end(tmp_path: Path):
    script = [RecordedLine("chat", f"第{i}号多少钱", f"u{i}", f"n{i}", room=ITEM) for i in range(4)]
    sim = DouyinOpenSim()
    app, state = create_simulator(script, rooms=[ITEM], rate=200.0, sim=sim)
    runner, port = await start_app(app)
    config = simulator_connector_config(f"http://127.0.0.1:{port}", [ITEM])
    config.pop("type")
    config.update(poll_interval_s=0.05, token_file=str(tmp_path / "t.json"), webhook_spool_dir=str(tmp_path / "spool"))
    connector = CONNECTOR.build(CONNECTOR.settings_model(**config), "shop")
    url, hook_runner, _ = await mount_receiver(connector)
    sim.webhook_url = url
    try:
        items = await take(comment_source(connector).stream(None), 4)
        assert [i.event.text for i in items] == [f"第{i}号多少钱" for i in range(4)]
        async with aiohttp.ClientSession() as session:
            await session.post(f"http://127.0.0.1:{port}/_sim/inject", json={"type": "follow", "user_id": "fan"})
        webhook = next(s for s in connector.sources if isinstance(s, WebhookSource))
        (follow,) = await take(webhook.stream(None), 1)
        assert isinstance(follow.event, Follow) and follow.event.viewer.user_id == "fan"
    finally:
        await connector.aclose()
        await hook_runner.cleanup()
        await runner.cleanup()


async def test_an_access_token_revoked_mid_use_is_refreshed_once_and_the_call_repeated(env: Env):
    sender = env.connector().sender
    assert sender is not None
    await sender.send(OutgoingMessage("a", "douyin_open", "shop", "public_reply", ITEM, "one"))
    refreshes = env.sim.calls["/oauth/refresh_token/"]
    for token in env.sim.access_tokens:
        env.sim.access_tokens[token] = 0.0  # platform says 28001008 from now on
    await sender.send(OutgoingMessage("b", "douyin_open", "shop", "public_reply", ITEM, "two"))
    assert env.sim.calls["/oauth/refresh_token/"] == refreshes + 1
    assert [s.text for s in env.state.sends.sends] == ["one", "two"]
    # and when the refresh token is gone too, it is AuthExpired
    for token in env.sim.access_tokens:
        env.sim.access_tokens[token] = 0.0
    env.sim.refresh_tokens.clear()
    with pytest.raises(AuthExpired):
        await sender.send(OutgoingMessage("c", "douyin_open", "shop", "public_reply", ITEM, "three"))


async def test_a_hanging_comment_api_is_cut_off_by_the_timeout_and_polling_resumes(env: Env):
    from bot.connectors.common import ReconnectPolicy

    connector = env.connector(request_timeout_s=0.2)
    source = comment_source(connector)
    source._policy = ReconnectPolicy(initial_s=0.01, max_s=0.05)  # type: ignore[attr-defined]
    env.sim.add_comment(ITEM, "u1", "a", "before")
    stream = source.stream(None)
    await take(stream, 1)
    env.state.faults.add(Fault("silence", seconds=1.0))
    env.state.faults.add(Fault("drop"))
    env.sim.add_comment(ITEM, "u2", "b", "after")
    (after,) = await take(stream, 1)
    assert after.event.text == "after" and connector.health.reconnects >= 1
    await stream.aclose()


async def test_tokens_pasted_after_re_authorising_replace_a_dead_token_file(env: Env):
    dead = {"access_token": "act.old", "refresh_token": "rft.old", "open_id": env.sim.open_id,
            "access_expires_at": 1.0, "refresh_expires_at": 2.0}
    (env.tmp / "tokens.json").write_text(json.dumps(dead))
    sender = env.connector().sender  # config carries the simulator's fresh seed refresh token
    assert sender is not None
    await sender.send(OutgoingMessage("x", "douyin_open", "shop", "public_reply", ITEM, "works again"))
    assert json.loads((env.tmp / "tokens.json").read_text())["refresh_token"] == "rft.sim-seed"


async def test_the_authorize_command_stores_tokens_from_an_oauth_code(env: Env, capsys):
    from bot.cli import main

    config = env.tmp / "config.toml"
    config.write_text(
        f'[[connectors]]\ntype = "douyin_open"\nname = "dy"\nbase_url = "{env.base}"\n'
        f'client_key = "{env.sim.client_key}"\nclient_secret = "{env.sim.client_secret}"\n'
        f'token_file = "{env.tmp / "auth.json"}"\n',
        encoding="utf-8",
    )
    assert await asyncio.to_thread(main, ["-c", str(config), "douyin-open-authorize"]) == 0
    assert "client_key=sim_client_key" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["-c", str(config), "douyin-open-authorize", "--code", "abc"]) == 0
    out = capsys.readouterr().out
    stored = json.loads((env.tmp / "auth.json").read_text())
    assert stored["open_id"] == env.sim.open_id and stored["access_token"] not in out
    assert "re-authorise within 30 days" in out
