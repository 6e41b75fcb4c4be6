"""Douyin Open only lets us answer a private message inside the 24 h window the person's own
DM opened. The webhook reaches one worker; the reply may be sent by another worker's sender, or
by the same worker after a restart: the window is stored in the database with the message that
opened it, and the outbox hands it to whichever sender claims the reply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import open_repository
from bot.connectors.base import Connector
from bot.connectors.douyin_open.client import WebhookSource
from bot.connectors.douyin_open.simulator import post_signed_webhook
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from handlers.decide import reply_window
from handlers.dm_rules import dm_allowed
from handlers.events import ChatMessage, DirectMessage, Origin, Viewer
from handlers.reminder_jobs import subscriber_of
from storage.models import Action
from storage.records import ActionRecord, Batch, DmWindowRecord, PersonRef, SubscriptionRecord
from storage.repository import Repository
from tests.douyin_open_world import Env, douyin_open_world, mount_receiver
from tests.helpers import make_config, wait_for

T0 = 1_795_420_800.0


def window(user: str = "u1", *, until: float, msg: str = "m1", account: str = "shop") -> DmWindowRecord:
    return DmWindowRecord("douyin_open", account, user, msg, f"conv-{user}", "im_replay_msg", until)


async def test_a_stored_window_is_found_until_it_closes(db_url: str, tmp_path: Path) -> None:
    engine, repository = await open_repository(make_config(db_url, tmp_path))
    try:
        await repository.write_batch(Batch(dm_windows=[window(until=T0 + 86400)]))
        found = await repository.dm_window("douyin_open", "shop", "u1", now=T0 + 3600)
        assert found == window(until=T0 + 86400)
        assert await repository.dm_window("douyin_open", "shop", "u1", now=T0 + 86400) is None, "closed at until"
        assert await repository.dm_window("douyin_open", "other-account", "u1", now=T0) is None
        assert await repository.dm_window("douyin_open", "shop", "u2", now=T0) is None
    finally:
        await engine.dispose()


async def test_a_newer_dm_moves_the_window_and_a_late_older_one_does_not_shorten_it(db_url: str, tmp_path: Path) -> None:
    engine, repository = await open_repository(make_config(db_url, tmp_path))
    try:
        await repository.write_batch(Batch(dm_windows=[window(until=T0 + 100, msg="m1")]))
        await repository.write_batch(Batch(dm_windows=[window(until=T0 + 200, msg="m2")]))
        await repository.write_batch(Batch(dm_windows=[window(until=T0 + 150, msg="m-late")]))
        found = await repository.dm_window("douyin_open", "shop", "u1", now=T0)
        assert found is not None and (found.msg_id, found.until) == ("m2", T0 + 200)
        # two DMs of one person in one batch: the newest wins, whatever the order
        await repository.write_batch(
            Batch(dm_windows=[window(until=T0 + 400, msg="m4"), window(until=T0 + 300, msg="m3")])
        )
        found = await repository.dm_window("douyin_open", "shop", "u1", now=T0)
        assert found is not None and found.msg_id == "m4"
    finally:
        await engine.dispose()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with douyin_open_world(tmp_path) as world:
        yield world


def test_only_an_inbound_dm_with_a_window_is_stored() -> None:
    origin = Origin("douyin_open", "shop", "dm", "conv-1")
    viewer = Viewer("douyin_open", "u1", "小王")
    dm = DirectMessage(origin, "m1", viewer, "多少钱", T0, "conv-1", T0 + 86400, "im_replay_msg")
    assert reply_window(dm) == DmWindowRecord("douyin_open", "shop", "u1", "m1", "conv-1", "im_replay_msg", T0 + 86400)
    assert reply_window(DirectMessage(origin, "m2", viewer, "hi", T0)) is None, "no window on this platform"
    assert reply_window(DirectMessage(origin, "m3", viewer, "hi", T0, "", T0 + 86400, "im_replay_msg")) is None
    chat = ChatMessage(Origin("douyin_open", "shop", "video", "v1"), "c1", viewer, "多少钱", T0)
    assert reply_window(chat) is None


async def _dm_reaches(receiving: Connector, env: Env, user: str, text: str) -> DirectMessage:
    """A buyer writes to the shop; the webhook reaches ``receiving``'s web server."""
    url, runner, _ = await mount_receiver(receiving)
    try:
        stream = next(s for s in receiving.sources if isinstance(s, WebhookSource)).stream(None)
        body, _ = env.sim.dm_body(user, "小王", text)
        assert await post_signed_webhook(url, env.sim.client_secret, body, msg_id=f"hook-{user}") == 200
        item = await asyncio.wait_for(anext(stream), 5)
        await stream.aclose()
    finally:
        await runner.cleanup()
    assert isinstance(item.event, DirectMessage)
    return item.event


def dm_reply(event: DirectMessage) -> ActionRecord:
    return ActionRecord(
        kind="reply",
        subtype="price",
        channel="private_message",
        platform="douyin_open",
        account=event.origin.account,
        target=event.viewer.user_id,
        text="在的，99元",
        idempotency_key=f"reply:douyin_open:{event.event_id}",
        recipient=event.viewer.user_id,
    )


async def _send_with(connector: Connector, repository: Repository) -> OutboxSender:
    sender = OutboxSender(
        connector=connector, repository=repository, metrics=Metrics(), worker_id="other-worker",
        max_attempts=3, claim_timeout_s=60, poll_interval_s=0.02, shadow=False,
    )  # fmt: skip
    return sender


async def _status(repository: Repository, key: str) -> tuple[str, str]:
    async with repository.engine.connect() as conn:
        row = (await conn.execute(select(Action.status, Action.error).where(Action.idempotency_key == key))).one()
    return row.status, row.error or ""


async def test_a_dm_received_by_one_worker_is_answered_by_another_workers_sender(
    env: Env, db_url: str, tmp_path: Path
) -> None:
    receiving = env.connector()  # worker A: the platform's webhook call reached it
    event = await _dm_reaches(receiving, env, "buyer-1", "多少钱")
    window = reply_window(event)
    assert window is not None
    engine, repository = await open_repository(make_config(db_url, tmp_path))
    try:
        # what worker A's pipeline writes for that message: the window and the reply, one batch
        await repository.write_batch(Batch(dm_windows=[window], actions=[dm_reply(event)]))
        sending = env.connector(token_file=str(tmp_path / "b-tokens.json"))  # worker B: never saw the webhook
        sender = await _send_with(sending, repository)
        task = asyncio.create_task(sender.run())
        key = dm_reply(event).idempotency_key
        assert await wait_for(lambda: _is(repository, key, "sent"), within_s=10), await _status(repository, key)
        sender.stop()
        await asyncio.wait_for(task, 10)
        (sent,) = env.state.sends.sends
        assert sent.recipient == "buyer-1" and sent.text == "在的，99元"
    finally:
        await engine.dispose()


async def test_without_a_stored_window_the_dm_fails_with_the_reason_and_nothing_is_sent(
    env: Env, db_url: str, tmp_path: Path
) -> None:
    receiving = env.connector()
    event = await _dm_reaches(receiving, env, "buyer-2", "多少钱")
    engine, repository = await open_repository(make_config(db_url, tmp_path))
    try:
        await repository.write_batch(Batch(actions=[dm_reply(event)]))  # the window was never stored
        sending = env.connector(token_file=str(tmp_path / "b-tokens.json"))
        sender = await _send_with(sending, repository)
        task = asyncio.create_task(sender.run())
        key = dm_reply(event).idempotency_key
        assert await wait_for(lambda: _is(repository, key, "failed"), within_s=10)
        sender.stop()
        await asyncio.wait_for(task, 10)
        assert "no open DM window" in (await _status(repository, key))[1]
        assert env.state.sends.sends == []
    finally:
        await engine.dispose()


async def _is(repository: Repository, key: str, status: str) -> bool:
    return (await _status(repository, key))[0] == status


async def test_a_reminder_may_go_by_dm_to_a_subscriber_whose_window_is_open(db_url: str, tmp_path: Path) -> None:
    # "明天还播吗" asked by private message subscribes the person and opens a 24 h reply window
    engine, repository = await open_repository(make_config(db_url, tmp_path))
    try:
        asked_by_dm = PersonRef("douyin_open", "u1", "小王")
        asked_in_comments = PersonRef("douyin_open", "u2", "阿杰")
        await repository.write_batch(
            Batch(
                subscriptions=[SubscriptionRecord(asked_by_dm, "shop", "asked about the next live", T0),
                               SubscriptionRecord(asked_in_comments, "shop", "asked about the next live", T0)],
                dm_windows=[window("u1", until=T0 + 86400)],
            )
        )  # fmt: skip
        rows = await repository.reminder_subscribers(since=T0 - 1, accounts=[("douyin_open", "shop")])
        people = {row["user_id"]: subscriber_of(row) for row in rows}
        start = T0 + 3 * 3600
        assert dm_allowed("douyin_open", people["u1"].dm, start - 600).allowed
        assert not dm_allowed("douyin_open", people["u2"].dm, start - 600).allowed
        assert not dm_allowed("douyin_open", people["u1"].dm, T0 + 86400 + 1).allowed, "not after the window"
    finally:
        await engine.dispose()
