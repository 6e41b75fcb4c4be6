"""YouTube Data API v3 connector: live chat and video comments in, chat messages and replies out.

``build`` wires one channel: a poller per live chat and per video, a sender, and the credentials
they share — an API key (read only), a pasted access token, or a refresh token with which the
connector renews its own access tokens (``tokens.OAuthTokens``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pydantic import BaseModel

from bot.connectors.base import Connector, ConnectorHealth, ConnectorSpec, Source
from bot.connectors.common import EchoTracker
from bot.connectors.youtube.client import CommentThreadSource, LiveChatSource
from bot.connectors.youtube.codec import AccessToken
from bot.connectors.youtube.http import YouTubeHttp
from bot.connectors.youtube.quota import QuotaBudget
from bot.connectors.youtube.sender import YouTubeSender
from bot.connectors.youtube.settings import YouTubeSettings
from bot.connectors.youtube.tokens import (
    BearerTokens,
    OAuthTokens,
    StaticToken,
    TokenEndpoint,
    TokenFile,
    grant_fingerprint,
)
from bot.logs import register_secret

log = logging.getLogger(__name__)
EXPIRY_WARNING_S = 24 * 3600.0


def bearer_tokens(settings: YouTubeSettings, health: ConnectorHealth) -> BearerTokens | None:
    """Renewing tokens when a refresh token is configured, the pasted access token otherwise."""
    token = settings.access_token.get_secret_value() if settings.access_token else None
    register_secret(token)
    if settings.refresh_token is None or settings.client_secret is None:
        if token is None:
            return None
        if settings.access_token_expires_at is not None:
            left = settings.access_token_expires_at - time.time()
            if left < EXPIRY_WARNING_S:
                log.warning("youtube: the OAuth access token expires in %.1f hours; renew it, or configure "
                            "refresh_token to have it renewed automatically", max(0.0, left) / 3600)
        return StaticToken(token)
    refresh_token = settings.refresh_token.get_secret_value()
    client_secret = settings.client_secret.get_secret_value()
    register_secret(refresh_token)
    register_secret(client_secret)
    store = None
    if settings.token_file:
        grant = grant_fingerprint(settings.client_id, refresh_token)
        store = TokenFile(Path(settings.token_file).expanduser(), grant=grant)
    return OAuthTokens(
        TokenEndpoint(settings.token_url, timeout_s=settings.request_timeout_s),
        client_id=settings.client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        health=health,
        store=store,
        seed=AccessToken(token, settings.access_token_expires_at) if token else None,
        refresh_before_s=settings.refresh_before_s,
    )


def build(settings: BaseModel, account: str) -> Connector:
    assert isinstance(settings, YouTubeSettings)
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    register_secret(api_key)
    health = ConnectorHealth(credential_expires_at=settings.access_token_expires_at)
    tokens = bearer_tokens(settings, health)
    budget = QuotaBudget(
        settings.daily_quota_units, reserve_units=settings.reserve_units, horizon_s=settings.quota_horizon_s
    )
    http = YouTubeHttp(settings.base_url, budget, api_key=api_key, tokens=tokens, timeout_s=settings.request_timeout_s)
    echo = EchoTracker(own_user_ids={settings.own_channel_id} if settings.own_channel_id else set())
    sources: list[Source] = [
        LiveChatSource(http, account=account, live_chat_id=chat, health=health, echo=echo,
                       min_interval_s=settings.min_poll_interval_s, max_results=settings.max_results)
        for chat in settings.live_chat_ids
    ]
    sources += [
        CommentThreadSource(http, account=account, video_id=video, health=health,
                            interval_s=settings.comment_poll_interval_s, backfill=settings.comment_backfill,
                            max_pages=settings.comment_max_pages)
        for video in settings.video_ids
    ]
    return Connector(
        name=settings.name or f"youtube:{account}",
        platform="youtube",
        sources=sources,
        sender=YouTubeSender(http, echo, can_send=http.can_send),
        account=account,
        health=health,
        closers=[http.aclose],
    )


CONNECTOR = ConnectorSpec(
    type="youtube",
    settings_model=YouTubeSettings,
    build=build,
    description="YouTube Data API v3: live chat and video comments, with a daily quota budget",
)
