"""YouTube HTTP calls: credentials, ``Idempotency-Key``, quota accounting, Google errors → types.

Every request spends its units *before* it is made (Google charges invalid requests too);
``403 quotaExceeded`` empties the budget until midnight Pacific. A 401 to a bearer token that
can be renewed is retried once with the renewed token, so an expiry the token provider did not
see coming (revoked early, clock skew) never reaches the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.connectors.errors import ProtocolError
from bot.connectors.httpkit import LazySession, RawResponse, request_bytes
from bot.connectors.youtube.codec import error_reason, load_object, typed_error
from bot.connectors.youtube.quota import QuotaBudget
from bot.connectors.youtube.tokens import BearerTokens, StaticToken


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
        token = await self._tokens.current() if self._tokens is not None else None
        answer = await self._attempt(method, path, cost, params, json, idempotency_key, token)
        if answer.status == 401 and token is not None and self._tokens is not None:
            renewed = await self._tokens.rejected(token)
            if renewed is not None:
                token = renewed
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
