"""YouTube HTTP calls: credentials, ``Idempotency-Key``, quota accounting, Google errors → types.

Every request spends its units *before* it is made (Google charges invalid requests too);
``403 quotaExceeded`` empties the budget until midnight Pacific. A 401 to a bearer token that
can be renewed is retried once with the renewed token, so an expiry the token provider did not
see coming (revoked early, clock skew) never reaches the pipeline.

When the OAuth grant is dead (the merchant revoked the app, the refresh token expired) and an
``api_key`` is configured too, reads go on with the key — public chats and comments stay
watched and leads keep being captured — while sends keep failing with ``AuthExpired`` (the
outbox holds them and the dashboard says "authorise again"). Without a key, reads stop too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.connectors.errors import AuthExpired, ProtocolError
from bot.connectors.httpkit import LazySession, RawResponse, request_bytes
from bot.connectors.youtube.codec import error_reason, load_object, typed_error
from bot.connectors.youtube.quota import QuotaBudget
from bot.connectors.youtube.tokens import BearerTokens, StaticToken

log = logging.getLogger(__name__)
READ_METHODS = frozenset({"GET"})


class YouTubeHttp:
    def __init__(
        self,
        base_url: str,
        budget: QuotaBudget,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        tokens: BearerTokens | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        """``tokens`` (renewable) wins over ``access_token`` (used as is); with neither, ``api_key``."""
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self._api_key = api_key
        self._tokens = tokens or (StaticToken(access_token) if access_token else None)
        self._session = LazySession(timeout_s)
        self.reading_with_key_since_auth_failed = False  # the fallback is in use (health, tests)

    @property
    def can_send(self) -> bool:
        """Inserts need OAuth; an API key only reads."""
        return self._tokens is not None

    async def call(
        self,
        method: str,
        path: str,
        *,
        cost: int,
        params: Mapping[str, str],
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> bytes:
        can_fall_back = method in READ_METHODS and bool(self._api_key)
        try:
            token = await self._tokens.current() if self._tokens is not None else None
        except AuthExpired as error:
            if not can_fall_back:
                raise
            self._falling_back(error)
            token = None
        answer = await self._attempt(method, path, cost, params, json, idempotency_key, token)
        if answer.status == 401 and token is not None and self._tokens is not None:
            retry, token = await self._after_refusal(token, can_fall_back)
            if retry:
                answer = await self._attempt(method, path, cost, params, json, idempotency_key, token)
        status, body = answer.status, answer.body
        if token is not None and self._tokens is not None and status != 401 and status < 500:
            self._tokens.accepted(token)  # got past authentication (a 403 quotaExceeded did too)
        if status < 400:
            return body
        reason, message = "", ""
        try:
            _, reason, message = error_reason(load_object(body))
        except ProtocolError:
            pass  # a proxy's HTML error page: the status decides
        if reason in {"quotaExceeded", "dailyLimitExceeded"}:
            self.budget.exhaust()
        raise typed_error(status, reason, message, retry_after=answer.retry_after,
                          until_reset=self.budget.seconds_until_reset())

    async def _after_refusal(self, token: str, can_fall_back: bool) -> tuple[bool, str | None]:
        """After a 401 to ``token``: (retry?, with which bearer token — None means the api_key)."""
        assert self._tokens is not None
        try:
            renewed = await self._tokens.rejected(token)
        except AuthExpired as error:
            if not can_fall_back:
                raise
            self._falling_back(error)
            return True, None
        if renewed is not None:
            return True, renewed
        if can_fall_back:
            self._falling_back(AuthExpired("the access token was refused and no other could be had"))
            return True, None
        return False, token  # nothing else to try: Google's 401 becomes the typed error below

    def _falling_back(self, error: AuthExpired) -> None:
        if not self.reading_with_key_since_auth_failed:
            log.warning("youtube: OAuth no longer works (%s); reading public chats and comments with the api_key. "
                        "Replies wait until the app is authorised again.", error)  # fmt: skip
        self.reading_with_key_since_auth_failed = True

    async def _attempt(
        self,
        method: str,
        path: str,
        cost: int,
        params: Mapping[str, str],
        json: Any,
        idempotency_key: str | None,
        token: str | None,
    ) -> RawResponse:
        query = dict(params)
        headers: dict[str, str] = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self._api_key:
            query["key"] = self._api_key
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        self.budget.spend(cost)  # a refused call costs units too, the retry after a 401 included
        return await request_bytes(self._session.get(), method, f"{self.base_url}{path}", label=f"{method} {path}",
                                   params=query, json=json, headers=headers)

    async def aclose(self) -> None:
        await self._session.aclose()
        if self._tokens is not None:
            await self._tokens.aclose()
