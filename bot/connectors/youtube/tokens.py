"""OAuth access tokens for the YouTube connector: renewed before they run out, once at a time.

Google access tokens live one hour; a refresh token (from the merchant's consent with
``access_type=offline``) lives until it is revoked. ``OAuthTokens`` gives every caller (each
poller and the sender) a token good for at least ``refresh_before_s`` more seconds:

- ahead of expiry it refreshes (``POST token_url``, ``grant_type=refresh_token``), and callers
  that arrive meanwhile share that one refresh (single flight);
- after a 401 from the API, ``rejected(token)`` forces one refresh and ``YouTubeHttp`` retries
  the call once with the new token;
- when the token endpoint fails (5xx, 429, network, garbage) it backs off exponentially and
  keeps using the current token while it still works; a caller inside the back-off window
  gets the error at once, and the endpoint is not called again until the window ends;
- ``invalid_grant`` (revoked or expired refresh token) is ``AuthExpired`` for good: health shows
  ``auth_expired`` and the message tells the merchant to authorise again.

Every token is registered with ``register_secret`` the moment it is known. ``TokenFile`` keeps the
current access token so that a restart within the hour needs no refresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from bot.connectors.base import ConnectorHealth
from bot.connectors.common import ReconnectPolicy
from bot.connectors.errors import AuthExpired, ProtocolError, RateLimited, TransientError
from bot.connectors.httpkit import LazySession, request_bytes
from bot.connectors.privatefile import read_json_file, write_private_json
from bot.connectors.youtube.codec import AccessToken, parse_token_response, token_error
from bot.logs import register_secret

log = logging.getLogger(__name__)

# A token this close to its expiry is not handed out even as a fallback: the call could land late.
SAFETY_MARGIN_S = 10.0
WRITE_SCOPES = ("/auth/youtube", "/auth/youtube.force-ssl")


class BearerTokens(Protocol):
    """Where ``YouTubeHttp`` gets the ``Authorization: Bearer`` value."""

    async def current(self) -> str:
        """A token to send now (may refresh first)."""
        ...

    async def rejected(self, token: str) -> str | None:
        """The API answered 401 to ``token``: a new token to retry with, or None if renewing cannot help."""
        ...

    def accepted(self, token: str) -> None:
        """The API answered a call made with ``token`` (so a later 401 means it died, not that it never worked)."""
        ...

    async def aclose(self) -> None: ...


class StaticToken:
    """An ``access_token`` from the config alone: used as is; once it expires only the merchant can renew it."""

    def __init__(self, value: str) -> None:
        self._value = value

    async def current(self) -> str:
        return self._value

    async def rejected(self, token: str) -> str | None:
        return None

    def accepted(self, token: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


def grant_fingerprint(client_id: str, refresh_token: str) -> str:
    """Which authorisation a token file belongs to, without writing the refresh token into it."""
    return hashlib.sha256(f"{client_id}\n{refresh_token}".encode()).hexdigest()[:16]


class TokenFile:
    """The current access token on disk (JSON, 0600, replaced atomically) — a cache, never the truth.

    A file that is missing, unreadable or written for another authorisation (the merchant put a
    new refresh token in the config) is ignored: the connector simply refreshes.
    """

    def __init__(self, path: Path, *, grant: str) -> None:
        self.path = path
        self._grant = grant

    def _load(self) -> AccessToken | None:
        try:
            data = read_json_file(self.path)
        except (OSError, ValueError) as error:
            log.warning("youtube: token file %s is unreadable (%s); refreshing instead", self.path, error)
            return None
        if not isinstance(data, dict) or data.get("grant") != self._grant:
            if data is not None:
                log.info("youtube: token file %s belongs to another authorisation; refreshing instead", self.path)
            return None
        value, expires_at = data.get("access_token"), data.get("expires_at")
        if not isinstance(value, str) or not value or not isinstance(expires_at, int | float):
            log.warning("youtube: token file %s has no usable token; refreshing instead", self.path)
            return None
        scope, rotated, lifetime = data.get("scope"), data.get("refresh_token"), data.get("lifetime_s")
        return AccessToken(value, float(expires_at), scope if isinstance(scope, str) else "",
                           rotated if isinstance(rotated, str) else "",
                           float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else None)

    async def load(self) -> AccessToken | None:
        return await asyncio.to_thread(self._load)

    async def save(self, token: AccessToken) -> None:
        document = {"grant": self._grant, "access_token": token.value, "expires_at": token.expires_at,
                    "lifetime_s": token.lifetime_s, "scope": token.scope}
        if token.refresh_token:
            document["refresh_token"] = token.refresh_token
        try:
            await asyncio.to_thread(write_private_json, self.path, document)
        except OSError as error:  # the token still works in memory; only a restart pays a refresh
            log.warning("youtube: could not write token file %s (%s)", self.path, error)


class TokenEndpoint:
    """``POST token_url`` with the refresh grant (form-encoded, as Google expects)."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self._session = LazySession(timeout_s)

    async def refresh(self, *, client_id: str, client_secret: str, refresh_token: str, now: float) -> AccessToken:
        """A new access token; typed errors otherwise (``now`` is when the request started)."""
        form = {"grant_type": "refresh_token", "client_id": client_id, "client_secret": client_secret,
                "refresh_token": refresh_token}
        answer = await request_bytes(self._session.get(), "POST", self.url, label="youtube token refresh",
                                     data=form, headers={"Accept": "application/json"})
        if answer.status >= 400:
            raise token_error(answer.status, answer.body, retry_after=answer.retry_after)
        try:
            return parse_token_response(answer.body, now=now)
        except ProtocolError as error:  # a proxy's page or a truncated answer: try again later
            raise TransientError(str(error)) from None

    async def exchange_code(
        self, *, client_id: str, client_secret: str, code: str, redirect_uri: str, code_verifier: str, now: float
    ) -> AccessToken:
        """The consent flow's last step: the code from the redirect → tokens (``refresh_token`` set)."""
        form = {"grant_type": "authorization_code", "client_id": client_id, "client_secret": client_secret,
                "code": code, "redirect_uri": redirect_uri, "code_verifier": code_verifier}
        answer = await request_bytes(self._session.get(), "POST", self.url, label="youtube authorisation code",
                                     data=form, headers={"Accept": "application/json"})
        if answer.status >= 400:
            raise token_error(answer.status, answer.body, retry_after=answer.retry_after)
        return parse_token_response(answer.body, now=now)

    async def aclose(self) -> None:
        await self._session.aclose()


class OAuthTokens:
    """Access tokens renewed with a refresh token; see the module docstring for the policy."""

    def __init__(
        self,
        endpoint: TokenEndpoint,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        health: ConnectorHealth,
        store: TokenFile | None = None,
        seed: AccessToken | None = None,
        refresh_before_s: float = 300.0,
        backoff: ReconnectPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._endpoint = endpoint
        self._client_id = client_id
        self._client_secret = client_secret
        self._configured_refresh = refresh_token
        self._refresh_token = refresh_token
        self._health = health
        self._store = store
        self._seed = seed
        self._refresh_before_s = refresh_before_s
        self._backoff = backoff or ReconnectPolicy(initial_s=2.0, max_s=300.0)
        self._clock = clock
        self._token: AccessToken | None = None
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self._inflight: asyncio.Task[AccessToken] | None = None
        self._untested = False  # the current token came from the endpoint and no call has used it yet
        self._failures = 0
        self._retry_at = 0.0
        self._last_failure: TransientError | RateLimited | None = None
        self._dead: AuthExpired | None = None
        self._scope_warned = False
        self.refreshes = 0

    async def current(self) -> str:
        await self._ensure_loaded()
        now = self._clock()
        token = self._token
        if token is not None and not self._due(token, now):
            return token.value
        return (await self._renew(token, now)).value

    async def rejected(self, token: str) -> str | None:
        await self._ensure_loaded()
        now = self._clock()
        current = self._token
        if current is not None and current.value != token:
            if not self._due(current, now):
                return current.value  # another caller renewed it meanwhile
        elif current is not None:
            if self._untested:
                return None  # refused on its first use: the grant lacks access, another token would be too
            self._token = replace(current, expires_at=now)  # it worked and died early: never handed out again
        return (await self._renew(None, now)).value

    def accepted(self, token: str) -> None:
        if self._token is not None and self._token.value == token:
            self._untested = False

    async def aclose(self) -> None:
        task, self._inflight = self._inflight, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._endpoint.aclose()

    # ---- internals ---------------------------------------------------------------------------

    def _due(self, token: AccessToken, now: float) -> bool:
        """Time to renew: less than ``refresh_before_s`` left, or a quarter of the lifetime for
        short-lived tokens (renewing a 2-minute token 5 minutes early would mean every call).
        Unknown expiry (a pasted token) counts as fresh: the first 401 renews it."""
        if token.expires_at is None:
            return False
        lead = self._refresh_before_s
        if token.lifetime_s is not None:
            lead = min(lead, token.lifetime_s / 4)
        return token.expires_at - now < lead

    @staticmethod
    def _works(token: AccessToken, now: float) -> bool:
        return token.expires_at is None or token.expires_at - now > SAFETY_MARGIN_S

    async def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        async with self._load_lock:
            if self._loaded:
                return
            stored = await self._store.load() if self._store is not None else None
            if stored is not None and stored.refresh_token:
                register_secret(stored.refresh_token)
                self._refresh_token = stored.refresh_token  # Google rotated it before the restart
            self._token = self._pick(stored, self._seed, self._clock())
            if self._token is not None:
                register_secret(self._token.value)
                self._health.credential_expires_at = self._token.expires_at
            self._loaded = True

    @staticmethod
    def _pick(stored: AccessToken | None, seed: AccessToken | None, now: float) -> AccessToken | None:
        """The token to start with: the one known to live longest; a pasted one of unknown age last."""
        known = [t for t in (stored, seed) if t is not None and t.expires_at is not None and t.expires_at > now]
        if known:
            return max(known, key=lambda t: t.expires_at or 0.0)
        return seed if seed is not None and seed.expires_at is None else None

    async def _renew(self, usable: AccessToken | None, now: float) -> AccessToken:
        """A fresh token from the (shared) refresh; on a passing failure ``usable``, while it still works."""
        if self._dead is not None:
            raise AuthExpired(str(self._dead))
        try:
            if now < self._retry_at and self._last_failure is not None:
                raise self._backing_off(self._last_failure, now)
            return await self._shared_refresh()
        except (TransientError, RateLimited):
            if usable is not None and self._works(usable, now):
                return usable  # the failure was logged once by _refresh; the next call tries again
            raise

    def _backing_off(self, failure: TransientError | RateLimited, now: float) -> TransientError | RateLimited:
        wait = self._retry_at - now
        message = f"{failure} (next token refresh attempt in {wait:.1f}s)"
        if isinstance(failure, RateLimited):
            return RateLimited(message, retry_after=wait)
        return TransientError(message, retry_after=wait)

    async def _shared_refresh(self) -> AccessToken:
        task = self._inflight
        if task is None:
            task = asyncio.get_running_loop().create_task(self._refresh(), name="youtube-token-refresh")
            self._inflight = task
            task.add_done_callback(self._refresh_finished)
        # shield: one caller giving up (its own timeout, a lease lost) must not cancel the others' refresh
        return await asyncio.shield(task)

    def _refresh_finished(self, task: asyncio.Task[AccessToken]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here, in case every waiting caller was cancelled

    async def _refresh(self) -> AccessToken:
        started = self._clock()
        try:
            fresh = await self._endpoint.refresh(client_id=self._client_id, client_secret=self._client_secret,
                                                 refresh_token=self._refresh_token, now=started)
        except AuthExpired as error:
            self._dead = error
            self._health.state, self._health.last_error = "auth_expired", str(error)
            log.error("youtube: %s", error)
            raise
        except (TransientError, RateLimited) as error:
            self._failures += 1
            wait = self._backoff.delay(self._failures - 1, retry_after=error.retry_after)
            self._retry_at, self._last_failure = self._clock() + wait, error
            self._health.last_error = str(error)
            log.warning("youtube: access token refresh failed (%s); next attempt in %.1fs", error, wait)
            raise
        register_secret(fresh.value)
        if fresh.refresh_token:
            register_secret(fresh.refresh_token)
            self._refresh_token = fresh.refresh_token
        rotated = self._refresh_token if self._refresh_token != self._configured_refresh else ""
        fresh = replace(fresh, refresh_token=rotated)
        self._token, self._untested = fresh, True
        self._failures, self._retry_at, self._last_failure = 0, 0.0, None
        self.refreshes += 1
        self._health.credential_expires_at = fresh.expires_at
        self._health.extra["token_refreshes"] = float(self.refreshes)
        self._check_scope(fresh)
        lifetime = (fresh.expires_at - started) / 60 if fresh.expires_at is not None else float("nan")
        log.info("youtube: access token renewed (valid for %.0f min)", lifetime)
        if self._store is not None:
            await self._store.save(fresh)
        return fresh

    def _check_scope(self, token: AccessToken) -> None:
        """Say once, early, when the consent did not grant sending (every send would get 403)."""
        scopes = token.scope.split()
        if not scopes or self._scope_warned or any(s.endswith(WRITE_SCOPES) for s in scopes):
            return
        self._scope_warned = True
        log.warning("youtube: the authorised scopes (%s) do not allow sending; authorise again with "
                    "https://www.googleapis.com/auth/youtube.force-ssl", token.scope)
