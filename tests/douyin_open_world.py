"""The Douyin Open simulator and connectors built against it, shared by the Douyin Open tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from bot.connectors.base import Connector
from bot.connectors.douyin_open import CONNECTOR, webhook_routes
from bot.connectors.douyin_open.client import WebhookReceiver, WebhookSource
from bot.connectors.douyin_open.simulator import DouyinOpenSim, create_simulator, simulator_connector_config
from bot.connectors.simkit import SimState, start_app

ITEM = "@9VwW0qOBUN9mJyD3bNxvGc791G3uO/mLOZ10oQ==+x"  # needs URL-encoding (/, =, +)


class Env:
    def __init__(self, sim: DouyinOpenSim, state: SimState, base: str, tmp: Path) -> None:
        self.sim, self.state, self.base, self.tmp = sim, state, base, tmp
        self.connectors: list[Connector] = []

    def connector(self, **overrides: object) -> Connector:
        config = simulator_connector_config(self.base, [ITEM])
        # These tests read the webhook source themselves (no pipeline commits anything), so the
        # receiver answers once the events are queued; test_douyin_open_webhooks_run covers "stored".
        config.update({"poll_interval_s": 0.05, "token_file": str(self.tmp / "tokens.json"),
                       "webhook_answer_when": "queued", "webhook_spool_dir": str(self.tmp / "spool"),
                       **overrides})  # fmt: skip
        config.pop("type")
        settings = CONNECTOR.settings_model(**config)
        connector = CONNECTOR.build(settings, "shop")
        self.connectors.append(connector)
        return connector


@asynccontextmanager
async def douyin_open_world(tmp_path: Path) -> AsyncIterator[Env]:
    sim = DouyinOpenSim()
    app, state = create_simulator([], rooms=[ITEM], rate=100.0, sim=sim)
    runner, port = await start_app(app)
    environment = Env(sim, state, f"http://127.0.0.1:{port}", tmp_path)
    yield environment
    for connector in environment.connectors:
        await connector.aclose()
    await runner.cleanup()


async def mount_receiver(connector: Connector) -> tuple[str, web.AppRunner, WebhookReceiver]:
    source = next(s for s in connector.sources if isinstance(s, WebhookSource))
    app = web.Application()
    app.add_routes(webhook_routes(connector))
    runner, port = await start_app(app)
    return f"http://127.0.0.1:{port}{source.receiver.path}", runner, source.receiver
