"""OAuth tokens for one authorised Douyin account: stored, refreshed ahead of expiry, watched.

Lifetimes (protocols.md §3.1): access token 15 days, refresh token 30 days; refreshing gives a
new access token and does not extend the refresh token. When the refresh token runs out
(error 10010) only the merchant can fix it — by authorising the app again — so that is
``AuthExpired`` with a message saying so, announced ahead of time in the log and in
``health.credential_expires_at``.

``TokenStore`` is a small protocol so the DB-backed store can replace the JSON file later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from bot.connectors.base import ConnectorHealth
from bot.connectors.douyin_open.codec import TokenSet, parse_token_response
from bot.connectors.douyin_open.http import HttpClient
from bot.connectors.errors import AuthExpired, ConnectorError, ProtocolError, TransientError
from bot.connectors.privatefile import read_json_file, write_private_json
from bot.logs import register_secret

log = logging.getLogger(__name__)

ACCESS_LIFETIME_S = 15 * 86400.0
REFRESH_LIFETIME_S = 30 * 86400.0


class TokenStore(Protocol):
    async def load(self) -> TokenSet | None: ...

    async def save(self, tokens: TokenSet) -> None: ...


class JsonFileTokenStore:
    """Tokens in a JSON file readable by the owner only (0600), replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> TokenSet | None:
        try:
            data = read_json_file(self.path)
        except (OSError, ValueError) as error:
            raise AuthExpired(f"token file {self.path} is unreadable ({error}); re-authorise") from None
        if data is None:
            return None
        try:
            return TokenSet.from_json(data)
        except (ValueError, AttributeError) as error:
            raise AuthExpired(f"token file {self.path} is invalid ({error}); re-authorise") from None

    async def load(self) -> TokenSet | None:
        return await asyncio.to_thread(self._load)

    async def save(self, tokens: TokenSet) -> None:
        await asyncio.to_thread(write_private_json, self.path, tokens.to_json())


class TokenManager:
    """Hands out a valid access token, refreshing it when less than ``refresh_before_s`` is left."""

    def __init__(
        self,
        http: HttpClient,
        store: TokenStore,
        *,
        client_key: str,
        client_secret: str = "",
        health: ConnectorHealth,
        seed: TokenSet | None = None,
        refresh_before_s: float = 86400.0,
        warn_before_s: float = 3 * 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._store = store
        self._client_key = client_key
        self._client_secret = client_secret
        self._health = health
        self._seed = seed
        self._refresh_before_s = refresh_before_s
        self._warn_before_s = warn_before_s
        self._clock = clock
        self._tokens: TokenSet | None = None
        self._loaded = False
        self._lock = asyncio.Lock()
        self._last_warning = 0.0

    @property
    def open_id(self) -> str:
        return self._tokens.open_id if self._tokens else (self._seed.open_id if self._seed else "")

    async def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        stored = await self._store.load()
        seed = self._seed
        if seed is not None and (stored is None or self._seed_is_newer(stored, seed)):
            stored = seed
            await self._store.save(stored)
        self._tokens = stored
        self._loaded = True
        if stored is not None:
            register_secret(stored.access_token)
            register_secret(stored.refresh_token)

    def _seed_is_newer(self, stored: TokenSet, seed: TokenSet) -> bool:
        """Tokens pasted into the config after a re-authorisation replace a dead token file."""
        dead = stored.refresh_expires_at is not None and stored.refresh_expires_at <= self._clock()
        return dead and seed.refresh_token != stored.refresh_token

    async def access_token(self) -> str:
        async with self._lock:
            await self._ensure_loaded()
            tokens = self._tokens
            if tokens is None:
                raise AuthExpired("no Douyin Open tokens yet — authorise the app and configure the tokens")
            now = self._clock()
            self._watch_expiry(tokens, now)
            if tokens.refresh_expires_at is not None and now >= tokens.refresh_expires_at:
                raise AuthExpired(
                    "Douyin Open refresh token expired — re-authorise the app on Douyin to continue"
                )
            if tokens.access_expires_at - now < self._refresh_before_s:
                try:
                    tokens = await self._refresh(tokens, now)
                except AuthExpired:
                    self._health.state = "auth_expired"
                    raise
                except ConnectorError as error:
                    if tokens.access_expires_at > now:  # still valid: use it, try again next time
                        log.warning("douyin_open: token refresh failed (%s); the current token still works", error)
                    else:
                        raise
            return tokens.access_token

    async def exchange_code(self, code: str) -> TokenSet:
        """First authorisation: ``/oauth/access_token/`` with the code from the redirect."""
        body = await self._http.request(
            "POST",
            "/oauth/access_token/",
            data={"client_key": self._client_key, "client_secret": self._client_secret, "code": code,
                  "grant_type": "authorization_code"},
        )
        fresh = parse_token_response(body, now=self._clock())
        async with self._lock:
            register_secret(fresh.access_token)
            register_secret(fresh.refresh_token)
            await self._store.save(fresh)
            self._tokens, self._loaded = fresh, True
            self._watch_expiry(fresh, self._clock())
        return fresh

    async def invalidate(self) -> None:
        """The platform said the access token is expired: refresh on the next call."""
        async with self._lock:
            if self._tokens is not None:
                self._tokens = TokenSet(
                    self._tokens.access_token,
                    self._tokens.refresh_token,
                    self._tokens.open_id,
                    0.0,
                    self._tokens.refresh_expires_at,
                    self._tokens.scope,
                )

    async def _refresh(self, tokens: TokenSet, now: float) -> TokenSet:
        body = await self._http.request(
            "POST",
            "/oauth/refresh_token/",
            data={"client_key": self._client_key, "grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
        )
        try:
            fresh = parse_token_response(body, now=now, previous=tokens)
        except ProtocolError as error:
            raise TransientError(f"token refresh: {error}") from None
        register_secret(fresh.access_token)
        register_secret(fresh.refresh_token)
        await self._store.save(fresh)
        self._tokens = fresh
        log.info("douyin_open: access token refreshed; valid for %.1f days", (fresh.access_expires_at - now) / 86400)
        self._watch_expiry(fresh, now)
        return fresh

    def _watch_expiry(self, tokens: TokenSet, now: float) -> None:
        ends = tokens.refresh_expires_at
        self._health.credential_expires_at = ends if ends is not None else tokens.access_expires_at
        if ends is None:
            return
        left = ends - now
        if 0 < left < self._warn_before_s and now - self._last_warning > 3600:
            self._last_warning = now
            log.warning(
                "douyin_open: the refresh token expires in %.1f days — re-authorise the app on Douyin before then",
                left / 86400,
            )
