"""HTTP pieces every connector shares: reading Retry-After, one lazily opened session, and one
request that turns network failures into ``TransientError``.

Status → error mapping stays per platform (a 403 means "expired cookie" on one platform and
"captcha, retry later" on another); reading the server's wait hint does not.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from yarl import URL

from bot.connectors.errors import TransientError

MAX_RETRY_AFTER_S = 3600.0


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        number = moment - (time.time() if now is None else now)
    if not math.isfinite(number):
        return None
    return min(max(0.0, number), MAX_RETRY_AFTER_S)


class LazySession:
    """One aiohttp session, opened on first use (nothing starts in a constructor), closed once."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True, slots=True)
class RawResponse:
    """Status, body and ``Retry-After`` (seconds) of one answered request; the caller maps the status."""

    status: int
    body: bytes
    retry_after: float | None


async def request_bytes(
    session: aiohttp.ClientSession, method: str, url: str | URL, *, label: str, **kwargs: Any
) -> RawResponse:
    """One request, body read in full. A refused connection, reset or timeout is ``TransientError``
    named by ``label`` rather than the URL, whose query string may carry an API key."""
    try:
        async with session.request(method, url, **kwargs) as response:
            body = await response.read()
            return RawResponse(response.status, body, retry_after_seconds(response.headers.get("Retry-After")))
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise TransientError(f"{label}: {type(error).__name__}: {error}") from None
