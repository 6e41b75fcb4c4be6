"""The one place Douyin Open HTTP calls happen: one aiohttp session, status → typed errors.

HTTP-level problems are mapped here (429 → RateLimited with Retry-After, 5xx → TransientError,
network errors → TransientError); the JSON envelope's own ``error_code`` is checked by
``codec.api_data`` on the returned bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from yarl import URL

from bot.connectors.errors import AuthExpired, PermanentError, RateLimited, TransientError
from bot.connectors.httpkit import LazySession, request_bytes


def encode_query(params: Mapping[str, str]) -> str:
    """Every value percent-encoded on its own, ``@ / + =`` included (item and comment ids need it)."""
    return urlencode(params, quote_via=quote, safe="")


class HttpClient:
    """Lazily opened aiohttp session against one base URL."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = LazySession(timeout_s)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> bytes:
        """Body bytes of a 2xx answer; typed errors otherwise."""
        query = f"?{encode_query(params)}" if params else ""
        url = URL(f"{self.base_url}{path}{query}", encoded=True)
        answer = await request_bytes(
            self._session.get(), method, url, label=f"{method} {path}", headers=headers, json=json, data=data
        )
        status, body, retry_after = answer.status, answer.body, answer.retry_after
        if status == 429:
            raise RateLimited(f"{method} {path}: HTTP 429", retry_after=retry_after)
        if status >= 500:
            raise TransientError(f"{method} {path}: HTTP {status}", retry_after=retry_after)
        if status == 401:
            raise AuthExpired(f"{method} {path}: HTTP 401")
        if status >= 400:
            raise PermanentError(f"{method} {path}: HTTP {status}", code=status)
        return body

    async def aclose(self) -> None:
        await self._session.aclose()
