"""WBI request signing (``w_rid``/``wts``), pluggable: the simulator does not check it.

The key comes from ``/x/web-interface/nav`` ``data.wbi_img``: the basenames of ``img_url``
and ``sub_url`` concatenated, then reordered by a fixed index table and cut to 32 chars.
A signature: add ``wts``, sort by key, strip ``!'()*`` from values, urlencode, append the key,
md5. Code −352 from the server means the key is stale: ``reset`` it.
"""

from __future__ import annotations

import hashlib
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

MIXIN_TABLE = (
    46, 47, 18, 2, 53, 8, 23, 32, 15, 50, 10, 31, 58, 3, 45, 35,
    27, 43, 5, 49, 33, 9, 42, 19, 29, 28, 14, 39, 12, 38, 41, 13,
)  # fmt: skip
KEY_TTL_S = 11 * 3600 + 59 * 60 + 30


class Signer(Protocol):
    async def sign(self, params: Mapping[str, str | int]) -> dict[str, str]: ...

    def reset(self) -> None: ...


def mixin_key(img_url: str, sub_url: str) -> str:
    def stem(url: str) -> str:
        return url.rpartition("/")[2].partition(".")[0]

    raw = stem(img_url) + stem(sub_url)
    return "".join(raw[i] for i in MIXIN_TABLE if i < len(raw))


def sign_params(params: Mapping[str, str | int], key: str, wts: int) -> dict[str, str]:
    """``params`` plus ``wts`` and ``w_rid`` (pure; same inputs, same signature)."""
    signed = {k: str(v) for k, v in params.items()}
    signed["wts"] = str(wts)
    ordered = {k: "".join(ch for ch in signed[k] if ch not in "!'()*") for k in sorted(signed)}
    query = urllib.parse.urlencode(ordered)
    return {**signed, "w_rid": hashlib.md5((query + key).encode("utf-8")).hexdigest()}


class NoSigner:
    async def sign(self, params: Mapping[str, str | int]) -> dict[str, str]:
        return {k: str(v) for k, v in params.items()}

    def reset(self) -> None:
        return None


class WbiSigner:
    """Signs with a key fetched by ``fetch_urls`` (→ img_url, sub_url) and cached ~12 h."""

    def __init__(self, fetch_urls: Callable[[], Awaitable[tuple[str, str]]], clock: Callable[[], float] = time.time):
        self._fetch_urls = fetch_urls
        self._clock = clock
        self._key = ""
        self._fetched_at = 0.0

    async def sign(self, params: Mapping[str, str | int]) -> dict[str, str]:
        if not self._key or self._clock() - self._fetched_at >= KEY_TTL_S:
            img_url, sub_url = await self._fetch_urls()
            self._key, self._fetched_at = mixin_key(img_url, sub_url), self._clock()
        return sign_params(params, self._key, int(self._clock()))

    def reset(self) -> None:
        self._key = ""
