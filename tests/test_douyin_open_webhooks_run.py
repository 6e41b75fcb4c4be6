"""`leadbot run` with a Douyin Open connector: the platform's webhooks reach the worker's webhook
listener, a buyer's private question becomes a lead and is answered privately inside the reply
window, a follow is recorded, a replayed webhook changes nothing, a forged one is refused."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.app import App, build_app
from bot.config import LoadedConfig, WebhooksSettings, connector_settings, parse_settings
from bot.connectors.base import Connector, ConnectorHealth
from bot.connectors.douyin_open.client import NOT_STORED, SPOOLED, DmWindows, WebhookReceiver, WebhookSource
from bot.connectors.douyin_open.simulator import (
    DouyinOpenSim,
    create_simulator,
    post_signed_webhook,
    simulator_connector_config,
)
from bot.connectors.douyin_open.spool import WebhookSpool
from bot.connectors.simkit import SimState, start_app
from bot.webhooks import RunningWebhooks, WebhookConfigError, start_webhooks, webhook_app
from handlers.decide import window_keys_to_look_up, windows_in
from handlers.events import DirectMessage, Follow, Origin, SourceItem, Viewer
from storage.models import Action, Interaction, Lead, Message

ITEM = "@9VwL2vqGV8w1Z2K1ZdYx"
PATH = "/webhooks/douyin_open"
SECRET = DouyinOpenSim().client_secret


@dataclass
class Running:
    sim: DouyinOpenSim
    state: SimState
    bot: App
    hooks: RunningWebhooks
    worker: asyncio.Task[None]

    @property
    def webhook_url(self) -> str:
        return self.hooks.url + PATH

    async def count(self, model: type, *where: object) -> int:
        async with self.bot.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(model).where(*where))).scalar_one())  # type: ignore[arg-type]


@asynccontextmanager
async def leadbot_run(db_url: str, tmp_path: Path, **sections: dict[str, object]) -> AsyncIterator[Running]:
    """`leadbot run` with one Douyin Open connector against the simulator, webhooks served."""
    sim = DouyinOpenSim()
    app, state = create_simulator([], rooms=[ITEM], rate=50.0, sim=sim)
    sim_runner, port = await start_app(app)
    entry = simulator_connector_config(f"http://127.0.0.1:{port}", [ITEM])
    entry["token_file"] = str(tmp_path / "tokens.json")
    entry["webhook_spool_dir"] = str(tmp_path / "spool")
    settings, _ = parse_settings(
        {
            "database": {"url": db_url, "flush_interval_ms": 10},
            "sender": {"poll_interval_ms": 20},
            "caps": {"quiet_hours": {"enabled": False}},  # the test must not depend on the time of day
            "webhooks": {"port": 0},
            "connectors": [entry],
            **sections,
        },
        "test",
    )
    config = LoadedConfig(settings, tmp_path / "config.toml", connector_settings(settings, "test"))
    bot = await build_app(config)
    hooks = await start_webhooks(bot.connectors, config.settings.webhooks)  # what `leadbot run` does
    assert hooks is not None and hooks.paths == [PATH]
    worker = asyncio.create_task(bot.worker.run())
    sim.webhook_url = hooks.url + PATH
    try:
        yield Running(sim, state, bot, hooks, worker)
    finally:
        bot.worker.request_stop()
        await asyncio.wait_for(worker, timeout=30)
        await hooks.stop()
        await sim_runner.cleanup()
        await bot.engine.dispose()


@pytest.fixture
async def running(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with leadbot_run(sqlite_url, tmp_path) as run:
        yield run


async def eventually(check, within_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_private_question_is_a_lead_and_is_answered_privately_once(running: Running) -> None:
    body, server_id = running.sim.dm_body("buyer-1", "小王", "3号链接多少钱")
    assert await post_signed_webhook(running.webhook_url, running.sim.client_secret, body, msg_id="hook-1") == 200
    assert await eventually(lambda: _true(len(running.state.sends.sends) == 1)), "the DM was answered"
    (sent,) = running.state.sends.sends
    assert sent.recipient == "buyer-1" and sent.channel == "private_message"
    assert await running.count(Message, Message.kind == "dm", Message.platform_msg_id == server_id) == 1
    assert await running.count(Lead) == 1
    # Douyin delivers a webhook again when it did not see our answer in time: same Msg-Id
    assert await post_signed_webhook(running.webhook_url, running.sim.client_secret, body, msg_id="hook-1") == 200
    await asyncio.sleep(0.5)
    assert len(running.state.sends.sends) == 1 and running.state.sends.duplicates == 0
    assert await running.count(Message, Message.kind == "dm") == 1
    assert await running.count(Action, Action.channel == "private_message") == 1


async def test_a_follow_arrives_by_webhook_and_is_recorded(running: Running) -> None:
    body = running.sim.follow_body("fan-1")
    assert await post_signed_webhook(running.webhook_url, running.sim.client_secret, body, msg_id="hook-f1") == 200
    assert await eventually(lambda: _has(running, Interaction, Interaction.kind == "follow"))


async def test_a_forged_webhook_is_refused_and_nothing_is_stored(running: Running) -> None:
    body, _ = running.sim.dm_body("buyer-2", "x", "多少钱")
    status = await post_signed_webhook(running.webhook_url, "not-the-secret", body, msg_id="forged")
    assert status == 403
    await asyncio.sleep(0.3)
    assert await running.count(Message) == 0 and running.state.sends.sends == []


def test_two_connectors_on_one_webhook_path_is_a_clear_error() -> None:
    async def handle(_: web.Request) -> web.Response:
        return web.Response()

    one = Connector("douyin_open:a", "douyin_open", [], None, routes=[web.post(PATH, handle)])
    two = Connector("douyin_open:b", "douyin_open", [], None, routes=[web.post(PATH, handle)])
    with pytest.raises(WebhookConfigError, match="both receive webhooks on /webhooks/douyin_open.*webhook_path"):
        webhook_app([one, two])


async def test_no_listener_when_no_connector_receives_webhooks() -> None:
    plain = Connector("sim", "sim", [], None)
    assert await start_webhooks([plain], WebhooksSettings(port=0)) is None


async def _true(value: bool) -> bool:
    return value


async def _has(running: Running, model: type, *where: object) -> bool:
    return await running.count(model, *where) > 0


async def test_the_webhook_is_answered_only_once_its_message_is_stored(running: Running) -> None:
    body, server_id = running.sim.dm_body("buyer-3", "阿杰", "有货吗")
    assert await post_signed_webhook(running.webhook_url, running.sim.client_secret, body, msg_id="hook-3") == 200
    # no waiting: by the time Douyin gets its 200 the message is committed (a crash now loses nothing)
    assert await running.count(Message, Message.platform_msg_id == server_id) == 1


# ---- the receiver alone: what Douyin sees when storing is slow or impossible -------------------
@asynccontextmanager
async def served_receiver(
    timeout_s: float, spool: WebhookSpool | None = None, queue_size: int = 100
) -> AsyncIterator[tuple[str, WebhookReceiver, ConnectorHealth]]:
    """A receiver on its own (no pipeline behind it), served on 127.0.0.1: (url, receiver, health)."""
    health = ConnectorHealth()
    receiver = WebhookReceiver(
        client_secret=SECRET, account="shop", health=health, windows=DmWindows(), store_timeout_s=timeout_s,
        spool=spool, queue_size=queue_size,
    )  # fmt: skip
    app = web.Application()
    app.add_routes([web.post(receiver.path, receiver.handle)])
    runner, port = await start_app(app)
    try:
        yield f"http://127.0.0.1:{port}{receiver.path}", receiver, health
    finally:
        await runner.cleanup()


async def test_not_stored_in_time_is_503_and_the_redelivery_is_taken_not_dropped_as_a_duplicate() -> None:
    sim = DouyinOpenSim()
    async with served_receiver(timeout_s=0.3) as (url, receiver, health):
        body, server_id = sim.dm_body("buyer-4", "x", "多少钱")
        # nothing commits (the database is down): Douyin is told to deliver again
        assert await post_signed_webhook(url, SECRET, body, msg_id="hook-4") == 503
        assert health.extra["webhook_not_stored_in_time"] == 1
        stale, _ = receiver.queue.get_nowait()  # the first copy was queued; the pipeline may still store it
        assert isinstance(stale, DirectMessage)
        # the database is back: a reader commits what arrives; Douyin's second delivery goes through
        source = WebhookSource(receiver, account="shop", health=health)
        stream = source.stream(None)

        async def commit_next() -> str:
            item = await anext(stream)
            assert item.on_commit is not None
            item.on_commit()
            return item.event.event_id

        committing = asyncio.create_task(commit_next())
        assert await post_signed_webhook(url, SECRET, body, msg_id="hook-4") == 200
        assert await committing == server_id
        assert health.duplicates_dropped == 0
        await stream.aclose()


async def test_a_redelivery_while_the_first_is_being_stored_gets_the_first_ones_answer() -> None:
    sim = DouyinOpenSim()
    async with served_receiver(timeout_s=3.0) as (url, receiver, health):
        body, _ = sim.dm_body("buyer-5", "x", "多少钱")
        first = asyncio.create_task(post_signed_webhook(url, SECRET, body, msg_id="hook-5"))
        while receiver.queue.empty():  # noqa: ASYNC110 - waiting for the first delivery to be queued
            await asyncio.sleep(0.01)
        second = asyncio.create_task(post_signed_webhook(url, SECRET, body, msg_id="hook-5"))
        await asyncio.sleep(0.2)
        assert not first.done() and not second.done(), "neither is answered before the commit"
        (_, committed) = receiver.queue.get_nowait()
        committed.set_result(None)
        assert await first == 200 and await second == 200
        assert receiver.queue.empty() and health.duplicates_dropped == 1


# ---- the spool: a database outage longer than Douyin's patience --------------------------------
async def test_a_delivery_not_stored_in_time_is_kept_on_disk_answered_200_and_stored_after_a_restart(
    tmp_path: Path,
) -> None:
    spool_dir = tmp_path / "spool"
    sim = DouyinOpenSim()
    body, server_id = sim.dm_body("buyer-6", "x", "多少钱")
    async with served_receiver(timeout_s=0.3, spool=WebhookSpool(spool_dir)) as (url, _, health):
        # the database is down: nothing commits, yet Douyin hears 200 and stops redelivering
        assert await post_signed_webhook(url, SECRET, body, msg_id="hook-6") == 200
        assert health.extra[SPOOLED] == 1 and NOT_STORED not in health.extra
    (kept,) = spool_dir.iterdir()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600, "it holds a private message"
    # the worker crashed and starts again: the kept delivery is read first and dropped once stored
    async with served_receiver(timeout_s=0.3, spool=WebhookSpool(spool_dir)) as (_, receiver, health):
        stream = WebhookSource(receiver, account="shop", health=health).stream(None)
        item = await asyncio.wait_for(anext(stream), 5)
        assert isinstance(item.event, DirectMessage) and item.event.event_id == server_id
        assert kept.exists(), "kept until stored"
        assert item.on_commit is not None
        item.on_commit()
        assert await eventually(lambda: _true(not kept.exists()), within_s=5)
        await stream.aclose()


async def test_with_a_full_queue_the_kept_delivery_is_queued_as_soon_as_there_is_room(tmp_path: Path) -> None:
    sim = DouyinOpenSim()
    async with served_receiver(timeout_s=0.3, spool=WebhookSpool(tmp_path / "spool"), queue_size=1) as (
        url, receiver, health,
    ):  # fmt: skip
        first, _ = sim.dm_body("buyer-7", "x", "多少钱")
        second, second_id = sim.dm_body("buyer-8", "y", "有货吗")
        assert await post_signed_webhook(url, SECRET, first, msg_id="hook-7") == 200  # queued, then kept
        assert await post_signed_webhook(url, SECRET, second, msg_id="hook-8") == 200  # queue full: kept
        assert len(list((tmp_path / "spool").iterdir())) == 2
        stream = WebhookSource(receiver, account="shop", health=health).stream(None)
        seen = []
        for _ in range(2):
            item = await asyncio.wait_for(anext(stream), 5)
            seen.append(item.event.event_id)
            assert item.on_commit is not None
            item.on_commit()
        assert second_id in seen
        assert await eventually(lambda: _true(not list((tmp_path / "spool").iterdir())), within_s=5)
        await stream.aclose()


def test_an_unreadable_kept_file_is_set_aside_not_deleted(tmp_path: Path) -> None:
    spool = WebhookSpool(tmp_path)
    good = spool.keep(b'{"event":"x"}', "m-1")
    bad = tmp_path / "0.0-bad.webhook.json"
    bad.write_text("{not json")
    (kept,) = spool.load()
    assert kept.path == good and kept.body == b'{"event":"x"}' and kept.msg_id == "m-1"
    assert not bad.exists() and (tmp_path / "0.0-bad.webhook.json.bad").read_text() == "{not json"



async def test_a_follower_who_wrote_to_us_gets_a_dm_greeting_a_stranger_does_not(db_url: str, tmp_path: Path) -> None:
    greet_by_dm = {"greetings": {"channels": ["private_message"]}}
    async with leadbot_run(db_url, tmp_path, **greet_by_dm) as run:
        body, _ = run.sim.dm_body("buyer-9", "小王", "你好")  # not a purchase question: no reply
        assert await post_signed_webhook(run.webhook_url, run.sim.client_secret, body, msg_id="hook-9") == 200
        for fan, hook in (("buyer-9", "hook-f9"), ("stranger", "hook-f10")):
            follow = run.sim.follow_body(fan)
            assert await post_signed_webhook(run.webhook_url, run.sim.client_secret, follow, msg_id=hook) == 200
        assert await eventually(lambda: _true(len(run.state.sends.sends) == 1))
        (greeting,) = run.state.sends.sends
        assert greeting.recipient == "buyer-9" and greeting.channel == "private_message"
        assert await eventually(lambda: _has(run, Action, Action.kind == "greeting", Action.status == "skipped"))
        async with run.bot.engine.connect() as conn:
            reason = (await conn.execute(select(Action.reason).where(Action.status == "skipped"))).scalar_one()
        assert "no DM window" in reason
        await asyncio.sleep(0.5)
        assert len(run.state.sends.sends) == 1, "the stranger was not messaged"


def test_a_window_opened_in_the_same_batch_counts_for_a_follow_in_it() -> None:
    origin = Origin("douyin_open", "shop", "dm", "conv")
    viewer = Viewer("douyin_open", "u1", "小王")
    dm = DirectMessage(origin, "m1", viewer, "你好", 100.0, "conv", 86_500.0, "im_replay_msg")
    follow = Follow(origin, "f1", viewer, 101.0)
    items = [("hook", SourceItem(dm)), ("hook", SourceItem(follow))]
    assert window_keys_to_look_up(items) == [("douyin_open", "shop", "u1")]
    assert windows_in(items) == {("douyin_open", "shop", "u1"): 86_500.0}
