"""Building blocks for end-to-end stories: a simulator on 127.0.0.1 and a worker against it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import App, build_app
from bot.config import LoadedConfig, parse_settings
from bot.connectors.replay.formats import RecordedLine
from bot.connectors.sim import SimSettings, build
from bot.connectors.sim.simulator import create_simulator
from bot.connectors.simkit import SimState, start_app
from tests.fakes import SubstringMatcher


@dataclass
class RunningSim:
    runner: web.AppRunner
    state: SimState
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_sim(
    lines: Sequence[RecordedLine], rooms: Sequence[str] = ("room-1",), rate: float = 0.0, *, end_when_done: bool = True
) -> RunningSim:
    app, state = create_simulator(list(lines), rooms=list(rooms), rate=rate, end_when_done=end_when_done)
    runner, port = await start_app(app)
    return RunningSim(runner, state, port)


def chat(user: str, text: str, room: str = "room-1", nickname: str | None = None, mid: str | None = None) -> RecordedLine:
    return RecordedLine("chat", text, user, nickname or user, room=room, message_id=mid or "")


def follow(user: str, nickname: str | None = None, room: str = "room-1", mid: str | None = None) -> RecordedLine:
    return RecordedLine("follow", "", user, nickname or user, room=room, message_id=mid or "")


async def wait_for(check: Callable[[], Awaitable[bool]], within_s: float = 15.0, every: float = 0.05) -> bool:
    """Poll ``check`` until it is true or ``within_s`` seconds pass; returns the last result."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        if await check():
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(every)


def make_config(db_url: str, tmp_path: Path, **sections: Any) -> LoadedConfig:
    """A test config. Quiet hours are off unless a test sets them: private messages sent between
    22:00 and 08:00 store time would otherwise wait for the morning, and whether a story passes
    would depend on the hour CI runs it (quiet hours have their own clock-injected tests)."""
    data: dict[str, Any] = {
        "database": {"url": db_url, "flush_interval_ms": 10},
        "sender": {"poll_interval_ms": 20},
        "caps": {"quiet_hours": {"enabled": False}},
    }
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    settings, _ = parse_settings(data, "test")
    return LoadedConfig(settings, tmp_path / "config.toml", [])


async def run_worker(
    config: LoadedConfig, sim: RunningSim, rooms: Sequence[str] = ("room-1",), *, shadow: bool | None = None, **kw: Any
) -> App:
    connector = build(SimSettings(base_url=sim.base_url, rooms=list(rooms), min_interval_s=0.0), "default")
    app = await build_app(
        config, shadow=shadow, exit_when_idle=True, connectors=[connector], matcher=kw.pop("matcher", SubstringMatcher())
    )
    await asyncio.wait_for(app.worker.run(), timeout=kw.pop("timeout", 60))
    return app
