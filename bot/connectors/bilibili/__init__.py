"""Bilibili live connector: danmaku WebSocket in, danmaku and private messages out.

``[[connectors]] type = "bilibili"``; see ``settings.BilibiliSettings`` for the keys and
``simulator`` for the local stand-in used by tests and ``leadbot simulate``.
"""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel

from bot.connectors.base import Connector, ConnectorHealth, ConnectorSpec
from bot.connectors.bilibili.api import BilibiliApi, sessdata_expiry
from bot.connectors.bilibili.client import RoomSource
from bot.connectors.bilibili.decode import PLATFORM
from bot.connectors.bilibili.sender import BilibiliSender
from bot.connectors.bilibili.settings import BilibiliSettings
from bot.connectors.common import EchoTracker, RecentIds, ReconnectPolicy
from bot.logs import register_secret

log = logging.getLogger(__name__)


def build(settings: BaseModel, account: str) -> Connector:
    """Wire sources (one per room) and the sender; nothing connects until used."""
    if not isinstance(settings, BilibiliSettings):
        raise TypeError(f"expected BilibiliSettings, got {type(settings).__name__}")
    for secret in (settings.sessdata, settings.bili_jct):
        if secret is not None:
            register_secret(secret.get_secret_value())
    health = ConnectorHealth()
    if settings.sessdata is not None:
        expires = sessdata_expiry(settings.sessdata.get_secret_value())
        health.credential_expires_at = expires
        if expires is not None and expires - time.time() < settings.credential_warn_days * 86_400:
            days = (expires - time.time()) / 86_400
            log.warning("bilibili account %s: SESSDATA expires in %.1f days; log in again and update it", account, days)
    else:
        log.warning("bilibili account %s: no SESSDATA; viewers appear anonymous and nothing can be sent", account)
    api = BilibiliApi(settings)
    echo = EchoTracker(
        own_user_ids={str(settings.uid)} if settings.uid else set(),
        window_s=settings.echo_window_s,
    )
    recent = RecentIds()
    policy = ReconnectPolicy(initial_s=settings.reconnect_initial_s, max_s=settings.reconnect_max_s)
    name = settings.name or "bilibili"
    sources = [
        RoomSource(room=room, account=account, api=api, health=health, echo=echo, recent=recent, policy=policy, name=name)
        for room in settings.rooms
    ]
    sender = BilibiliSender(api, echo) if settings.sessdata is not None else None
    return Connector(
        name=name, platform=PLATFORM, sources=sources, sender=sender, account=account, health=health, closers=[api.aclose]
    )


CONNECTOR = ConnectorSpec(
    type="bilibili",
    settings_model=BilibiliSettings,
    build=build,
    description="Bilibili live rooms (danmaku WebSocket) and sending danmaku / private messages",
)

__all__ = ["CONNECTOR", "BilibiliSettings", "build"]
