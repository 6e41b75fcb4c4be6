"""`leadbot run` with a config naming each connector, against that connector's simulator:
danmaku / comments in → leads → replies recorded by the simulator (one per asker, no duplicate)."""

from __future__ import annotations

import asyncio
import importlib
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import build_app
from bot.config import LoadedConfig, connector_settings, parse_settings
from bot.connectors.replay.formats import RecordedLine
from bot.connectors.simkit import start_app
from storage.models import Lead, Message

ROOMS = {
    "sim": ["room-1"],
    "bilibili": ["21452505"],
    "douyin": ["646454278948"],
    "douyin_open": ["@9VwL2vqGV8w1Z2K1ZdYx"],
    "youtube": ["Cg0KC2xpdmVjaGF0LWlk"],
}


def script(room: str) -> list[RecordedLine]:
    asks = [("u1001", "小美", "3号链接多少钱"), ("u1002", "阿杰", "有货吗"), ("u1003", "甜甜", "主播好漂亮")]
    return [RecordedLine("chat", text, user, nick, room=room, message_id=f"{room}-{n}") for n, (user, nick, text) in enumerate(asks)]


@pytest.mark.parametrize("platform", sorted(ROOMS))
async def test_run_with_each_connector_against_its_simulator(platform: str, sqlite_url: str, tmp_path: Path) -> None:
    simulator = importlib.import_module(f"bot.connectors.{platform}.simulator")
    rooms = ROOMS[platform]
    # YouTube ends a live chat when the script is over; keep it open so replies can be posted.
    extra = {"end_when_script_done": False} if platform == "youtube" else {}
    app, state = simulator.create_simulator(script(rooms[0]), rooms=rooms, rate=20.0, **extra)
    runner, port = await start_app(app)
    base_url = f"http://127.0.0.1:{port}"
    make_entry = getattr(simulator, "simulator_connector_config", None) or importlib.import_module(f"bot.connectors.{platform}").simulator_connector_config
    entry = make_entry(base_url, rooms)
    entry["account"] = "shop-1"  # a merchant names the account: replies must still find their sender
    if "token_file" in entry:
        entry["token_file"] = str(tmp_path / "tokens.json")  # never write credentials into the repo
    if "webhook_spool_dir" in entry:
        entry["webhook_spool_dir"] = str(tmp_path / "spool")
    settings, _ = parse_settings(
        {
            "database": {"url": sqlite_url, "flush_interval_ms": 10},
            "sender": {"poll_interval_ms": 20},
            "connectors": [entry],
        },
        "test",
    )
    config = LoadedConfig(settings, tmp_path / "config.toml", connector_settings(settings, "test"))
    bot = await build_app(config)
    worker = asyncio.create_task(bot.worker.run())
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not worker.done():
            if len(state.sends.sends) >= 2:
                async with bot.engine.connect() as conn:
                    read = (
                        await conn.execute(select(func.count()).select_from(Message).where(Message.is_self.is_(False)))
                    ).scalar_one()
                if read >= 3:
                    break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # anything else it would (wrongly) send shows up now
    finally:
        bot.worker.request_stop()
        await asyncio.wait_for(worker, timeout=30)
        await runner.cleanup()
    async with bot.engine.connect() as conn:
        leads = (await conn.execute(select(func.count()).select_from(Lead))).scalar_one()
        asked = (await conn.execute(select(func.count()).select_from(Message).where(Message.is_self.is_(False)))).scalar_one()
    await bot.engine.dispose()
    texts = [send.text for send in state.sends.sends]
    assert asked >= 3, f"{platform}: the three scripted messages were read"
    assert leads == 2, f"{platform}: two askers are leads, the compliment is not"
    assert len(texts) == 2, f"{platform}: one reply per asker: {texts}"
    assert state.sends.duplicates == 0
    assert len({send.idempotency_key for send in state.sends.sends}) == 2
