"""Douyin Open Platform connector (official APIs): comment polling, webhooks, replies, DMs.

``build`` wires one authorised account: a comment Source per configured video, one webhook
Source, and a sender. ``leadbot run`` serves the webhook route (``Connector.routes``) with
``bot.webhooks``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from pydantic import BaseModel

from bot.connectors.base import Connector, ConnectorHealth, ConnectorSpec, Source
from bot.connectors.douyin_open.api import DouyinOpenApi
from bot.connectors.douyin_open.client import CommentSource, DmWindows, WebhookReceiver, WebhookSource
from bot.connectors.douyin_open.codec import TokenSet
from bot.connectors.douyin_open.http import HttpClient
from bot.connectors.douyin_open.sender import DouyinOpenSender
from bot.connectors.douyin_open.settings import DouyinOpenSettings
from bot.connectors.douyin_open.spool import WebhookSpool
from bot.connectors.douyin_open.tokens import JsonFileTokenStore, TokenManager
from bot.logs import register_secret


def webhook_routes(connector: Connector) -> list[web.RouteDef]:
    """The aiohttp route(s) receiving this connector's webhooks (empty for other connectors)."""
    return list(connector.routes)


def token_manager(settings: DouyinOpenSettings, http: HttpClient, health: ConnectorHealth) -> TokenManager:
    """The token manager of one configured account (also used by ``leadbot douyin-open-authorize``)."""
    secret = settings.client_secret.get_secret_value()
    register_secret(secret)
    seed = None
    if settings.access_token is not None and settings.refresh_token is not None:
        seed = TokenSet(
            access_token=settings.access_token.get_secret_value(),
            refresh_token=settings.refresh_token.get_secret_value(),
            open_id=settings.open_id,
            access_expires_at=0.0,  # unknown: refreshed on first use, which tells us the lifetime
            refresh_expires_at=None,
        )
        register_secret(seed.access_token)
        register_secret(seed.refresh_token)
    return TokenManager(
        http,
        JsonFileTokenStore(Path(settings.token_file).expanduser()),
        client_key=settings.client_key,
        client_secret=secret,
        health=health,
        seed=seed,
        refresh_before_s=settings.refresh_before_s,
        warn_before_s=settings.warn_before_s,
    )


def build(settings: BaseModel, account: str) -> Connector:
    assert isinstance(settings, DouyinOpenSettings)
    secret = settings.client_secret.get_secret_value()
    health = ConnectorHealth()
    http = HttpClient(settings.base_url, timeout_s=settings.request_timeout_s)
    tokens = token_manager(settings, http, health)
    api = DouyinOpenApi(http, tokens)
    windows = DmWindows()
    receiver = WebhookReceiver(
        client_secret=secret,
        account=account,
        health=health,
        windows=windows,
        queue_size=settings.webhook_queue_size,
        path=settings.webhook_path,
        answer_when=settings.webhook_answer_when,
        store_timeout_s=settings.webhook_store_timeout_s,
        spool=WebhookSpool(settings.webhook_spool_dir) if settings.webhook_spool_dir else None,
    )
    name = settings.name or f"douyin_open:{account}"
    sources: list[Source] = [
        CommentSource(
            api,
            account=account,
            item_id=item_id,
            health=health,
            poll_interval_s=settings.poll_interval_s,
            page_size=settings.page_size,
        )
        for item_id in settings.item_ids
    ]
    sources.append(WebhookSource(receiver, account=account, health=health))
    return Connector(
        name=name,
        platform="douyin_open",
        sources=sources,
        sender=DouyinOpenSender(api, windows),
        account=account,
        health=health,
        closers=[http.aclose],
        routes=[web.post(receiver.path, receiver.handle)],
    )


CONNECTOR = ConnectorSpec(
    type="douyin_open",
    settings_model=DouyinOpenSettings,
    build=build,
    description="Douyin Open Platform (official): video comments, webhooks, comment replies, DM replies",
)
