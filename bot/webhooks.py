"""Serve the connectors' webhook routes (``Connector.routes``) for ``leadbot run``.

Platforms push some events instead of letting us poll them (Douyin Open: private messages,
follows, replies to comments). Each connector that receives webhooks brings its aiohttp routes
and checks every call's signature itself; this module only puts them on one listener, refuses
two connectors claiming the same path, and reports where it listens.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from bot.config import WebhooksSettings
from bot.connectors.base import Connector
from bot.serving import RunningSite, serve

log = logging.getLogger(__name__)
MAX_WEBHOOK_BYTES = 1024 * 1024  # webhook bodies are small; the receivers cap them again


class WebhookConfigError(ValueError):
    """Two connectors want the same webhook path, or the listener cannot be opened."""


@dataclass
class RunningWebhooks:
    site: RunningSite
    paths: list[str]

    @property
    def url(self) -> str:
        return self.site.url

    async def stop(self) -> None:
        await self.site.stop()


def webhook_app(connectors: Sequence[Connector]) -> tuple[web.Application, list[str]]:
    app = web.Application(client_max_size=MAX_WEBHOOK_BYTES)
    owners: dict[str, str] = {}
    for connector in connectors:
        for route in connector.routes:
            path = str(getattr(route, "path", ""))
            if path in owners:
                raise WebhookConfigError(
                    f"connectors {owners[path]!r} and {connector.name!r} both receive webhooks on {path}: "
                    "give one of them another webhook_path"
                )
            owners[path] = connector.name
        app.add_routes(connector.routes)
    return app, sorted(owners)


async def start_webhooks(connectors: Sequence[Connector], settings: WebhooksSettings) -> RunningWebhooks | None:
    """Listen for the connectors' webhooks; None when no connector receives any (or disabled)."""
    if not settings.enabled or not any(connector.routes for connector in connectors):
        return None
    app, paths = webhook_app(connectors)
    try:
        site = await serve(app, settings.host, settings.port, access_log=False)
    except OSError as error:
        raise WebhookConfigError(f"webhooks.host/port = {settings.host}:{settings.port}: cannot listen: {error}") from None
    running = RunningWebhooks(site, paths)
    log.info("webhooks on %s (paths: %s)", running.url, ", ".join(paths))
    return running
