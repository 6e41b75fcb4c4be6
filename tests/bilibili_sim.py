"""Test harness: a running Bilibili simulator and a connector pointed at it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.connectors.base import Connector, Source
from bot.connectors.bilibili import build
from bot.connectors.bilibili.settings import BilibiliSettings
from bot.connectors.bilibili.simulator import (
    SIM_KEY,
    BilibiliSim,
    BilibiliSimConfig,
    create_simulator,
    simulator_connector_config,
)
from bot.connectors.replay.formats import RecordedLine
from bot.connectors.simkit import SimState, start_app
from handlers.events import Event

FAST_CLIENT = {
    "heartbeat_s": 0.3,
    "receive_timeout_s": 1.0,
    "auth_timeout_s": 2.0,
    "reconnect_initial_s": 0.05,
    "reconnect_max_s": 0.2,
    "http_timeout_s": 5.0,
}


@dataclass
class Running:
    base_url: str
    state: SimState
    sim: BilibiliSim
    connector: Connector
    settings: BilibiliSettings
    events: list[Event] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def watch(self, source: Source) -> None:
        async def pump() -> None:
            async for item in source.stream(None):
                assert item.cursor is None
                self.events.append(item.event)

        self._tasks.append(asyncio.create_task(pump()))

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def until(self, check: Callable[[], bool], within_s: float = 5.0, what: str = "condition") -> None:
        deadline = asyncio.get_running_loop().time() + within_s
        while not check():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; events so far: {self.events!r}")
            await asyncio.sleep(0.02)

    async def subscribed(self, room: str | None = None, count: int = 1) -> None:
        rooms = [self.sim.rooms[int(room)]] if room else list(self.sim.rooms.values())
        await self.until(lambda: all(len(r.subscribers) >= count for r in rooms), what="client subscribed")

    async def control(self, path: str, body: dict[str, Any]) -> None:
        async with aiohttp.ClientSession() as http, http.post(f"{self.base_url}{path}", json=body) as response:
            assert response.status == 200, await response.text()


@contextlib.asynccontextmanager
async def running(
    *,
    rooms: list[str] | None = None,
    script: list[RecordedLine] | None = None,
    rate: float = 50.0,
    sim_config: BilibiliSimConfig | None = None,
    client: dict[str, Any] | None = None,
    watch: bool = True,
    short_ids: dict[str, str] | None = None,
) -> AsyncIterator[Running]:
    rooms = rooms or ["21452505"]
    app, state = create_simulator(script or [], rooms=rooms, rate=rate, config=sim_config, short_ids=short_ids)
    runner, port = await start_app(app)
    base = f"http://127.0.0.1:{port}"
    config = simulator_connector_config(base, rooms)
    config.pop("type")
    config.update(FAST_CLIENT)
    config.update(client or {})
    settings = BilibiliSettings.model_validate(config)
    connector = build(settings, "shop")
    run = Running(base, state, app[SIM_KEY], connector, settings)
    try:
        if watch:
            for source in connector.sources:
                run.watch(source)
        yield run
    finally:
        for task in run._tasks:
            task.cancel()
        for task in run._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await connector.aclose()
        await runner.cleanup()
