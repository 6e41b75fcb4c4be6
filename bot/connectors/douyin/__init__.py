"""Douyin web live rooms: the reverse-engineered webcast push protocol (protocols.md §2).

Reads chat, follows, entries, likes, gifts and live-end from ``live.douyin.com`` rooms.
Sending live chat is implemented against the simulator only and is **unverified** on the
real platform (see ``sender.py``); for replies on a real account use the Douyin Open
Platform connector. The push URL signature is pluggable (``signer.Signer``); the default
computes X-MS-STUB and a placeholder signature, which only the simulator accepts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from bot.connectors.base import Connector, ConnectorHealth, ConnectorSpec
from bot.connectors.common import EchoTracker
from bot.connectors.douyin.client import DouyinRoomSource
from bot.connectors.douyin.room import RoomInfo
from bot.connectors.douyin.sender import DouyinWebSender
from bot.connectors.douyin.settings import DouyinSettings
from bot.connectors.douyin.signer import Signer, StubSigner
from bot.logs import register_secret

log = logging.getLogger(__name__)
EXPIRY_WARNING_S = 3 * 24 * 3600


def build_connector(settings: DouyinSettings, account: str, *, signer: Signer | None = None) -> Connector:
    """The running pieces; nothing connects until a source is iterated or a message sent."""
    name = settings.name or "douyin"
    health = ConnectorHealth()
    echo = EchoTracker(own_user_ids={settings.own_user_id} if settings.own_user_id else set())
    directory: dict[str, RoomInfo] = {}
    signer = signer or StubSigner()
    sources = [
        DouyinRoomSource(rid, settings, health, echo, signer, directory, account=account) for rid in settings.rooms
    ]
    sender = None
    closers: list[Callable[[], Awaitable[None]]] = []
    if settings.sessionid is not None:
        register_secret(settings.sessionid.get_secret_value())
        sender = DouyinWebSender(settings, settings.sessionid, echo, directory)
        closers.append(sender.aclose)
        if settings.sessionid_expires_at is not None:
            expires = settings.sessionid_expires_at.timestamp()
            health.credential_expires_at = expires
            if expires - time.time() < EXPIRY_WARNING_S:
                log.warning("%s: the Douyin sessionid expires at %s; log in again and update it", name, settings.sessionid_expires_at)
    return Connector(
        name=name, platform="douyin", sources=sources, sender=sender, account=account, health=health, closers=closers
    )


def _build(settings: BaseModel, account: str) -> Connector:
    if not isinstance(settings, DouyinSettings):
        raise TypeError(f"douyin connector needs DouyinSettings, got {type(settings).__name__}")
    return build_connector(settings, account)


CONNECTOR = ConnectorSpec(
    type="douyin",
    settings_model=DouyinSettings,
    build=_build,
    description="Douyin web live rooms (webcast push; sending unverified, simulator only)",
)
