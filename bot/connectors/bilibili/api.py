"""Bilibili HTTP calls: room bootstrap (nav, get_info, getDanmuInfo), and the typed mapping of
HTTP statuses and ``{"code": …}`` answers to connector errors.

One ``BilibiliApi`` per connector owns the aiohttp session (created on first use, closed by
``aclose``). Parsing of the answers is pure (``parse_*``) and tested on captured JSON.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.connectors.bilibili.settings import BilibiliSettings
from bot.connectors.bilibili.wbi import NoSigner, Signer, WbiSigner
from bot.connectors.errors import AuthExpired, PermanentError, ProtocolError, RateLimited, TransientError
from bot.connectors.httpkit import retry_after_seconds

log = logging.getLogger(__name__)

FALLBACK_HOST = {"host": "broadcastlv.chat.bilibili.com", "port": 2243, "wss_port": 443, "ws_port": 2244}


@dataclass(frozen=True, slots=True)
class DanmuInfo:
    token: str
    hosts: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class RoomInit:
    room_id: int  # the real (long) id
    owner_uid: int


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """Everything needed to open the danmaku socket of one room."""

    room: RoomInit
    uid: int  # ours, 0 when not logged in (the auth packet must carry the uid that fetched the token)
    buvid: str
    token: str
    urls: tuple[str, ...]


def parse_room_init(answer: Mapping[str, Any]) -> RoomInit:
    data = _data(answer, "room_init")
    try:
        return RoomInit(room_id=int(data["room_id"]), owner_uid=int(data.get("uid") or 0))
    except (KeyError, TypeError, ValueError) as error:
        raise ProtocolError(f"room_init: unexpected data ({error})", excerpt=_excerpt(answer)) from None


def parse_danmu_info(answer: Mapping[str, Any]) -> DanmuInfo:
    data = _data(answer, "getDanmuInfo")
    token = data.get("token")
    hosts = data.get("host_list")
    if not isinstance(token, str) or not isinstance(hosts, list):
        raise ProtocolError("getDanmuInfo: no token or host_list", excerpt=_excerpt(answer))
    usable = tuple(h for h in hosts if isinstance(h, dict) and isinstance(h.get("host"), str) and h["host"])
    return DanmuInfo(token=token, hosts=usable or (FALLBACK_HOST,))


def ws_urls(info: DanmuInfo, scheme: str) -> tuple[str, ...]:
    port_key = "wss_port" if scheme == "wss" else "ws_port"
    urls = []
    for host in info.hosts:
        port = host.get(port_key) or (443 if scheme == "wss" else 80)
        if isinstance(port, bool) or not isinstance(port, int | str) or not str(port).isdigit() or not 0 < int(port) < 65536:
            continue  # a host entry we cannot dial
        urls.append(f"{scheme}://{host['host']}:{int(port)}/sub")
    if not urls:
        fallback = FALLBACK_HOST["wss_port"] if scheme == "wss" else FALLBACK_HOST["ws_port"]
        urls.append(f"{scheme}://{FALLBACK_HOST['host']}:{fallback}/sub")
    return tuple(dict.fromkeys(urls))


def sessdata_expiry(sessdata: str) -> float | None:
    """SESSDATA is ``<hash>,<expires unix s>,<sig>`` (URL-encoded); None when it is not that shape."""
    parts = urllib.parse.unquote(sessdata).split(",")
    if len(parts) >= 2 and parts[1].isdigit():
        return float(parts[1])
    return None


def _excerpt(answer: object) -> bytes:
    try:
        return json.dumps(answer, ensure_ascii=False)[:200].encode("utf-8")
    except (TypeError, ValueError):
        return repr(answer)[:200].encode("utf-8", "replace")


def _data(answer: Mapping[str, Any], what: str) -> dict[str, Any]:
    check_code(answer, what)
    data = answer.get("data")
    if not isinstance(data, dict):
        raise ProtocolError(f"{what}: answer has no data object", excerpt=_excerpt(answer))
    return data


def check_code(answer: Mapping[str, Any], what: str) -> None:
    """Raise the typed error for a non-zero ``code`` of a generic API answer."""
    code = answer.get("code")
    if code == 0:
        return
    message = str(answer.get("message") or answer.get("msg") or "")
    if code == -101:
        raise AuthExpired(f"{what}: not logged in (-101 {message}); refresh SESSDATA")
    if code == -111:
        raise AuthExpired(f"{what}: csrf check failed (-111 {message}); refresh bili_jct")
    if code in (-412, -509, -799):
        raise RateLimited(f"{what}: request blocked as too frequent ({code} {message})", retry_after=60.0)
    if code == -352:
        raise TransientError(f"{what}: WBI signature rejected (-352); key reset")
    if isinstance(code, int) and code in (-500, -503, -504):
        raise TransientError(f"{what}: server busy ({code} {message})")
    raise PermanentError(f"{what}: code {code} {message}".strip(), code=code if isinstance(code, int | str) else None)


def http_error(status: int, headers: Mapping[str, str], what: str, *, blocked_retry_s: float) -> Exception | None:
    """The typed error for an HTTP status (None for 2xx)."""
    if 200 <= status < 300:
        return None
    retry_after = retry_after_seconds(headers.get("Retry-After"))
    if status == 429:
        return RateLimited(f"{what}: HTTP 429", retry_after=retry_after)
    if status == 412:  # Bilibili's risk control answers 412 to clients it considers too fast
        return RateLimited(f"{what}: HTTP 412 (blocked by risk control)", retry_after=retry_after or blocked_retry_s)
    if status in (401, 403):
        return AuthExpired(f"{what}: HTTP {status}")
    if status >= 500 or status == 408:
        return TransientError(f"{what}: HTTP {status}", retry_after=retry_after)
    return PermanentError(f"{what}: HTTP {status}", code=status)


class BilibiliApi:
    """HTTP side of one account: cookies, the WBI signer, room bootstrap, form posts."""

    def __init__(self, settings: BilibiliSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._buvid = settings.buvid3 or ""
        self._uid: int | None = settings.uid if settings.uid is not None else (None if settings.sessdata else 0)
        self._rooms: dict[str, RoomInit] = {}
        self.signer: Signer = WbiSigner(self._wbi_urls) if settings.wbi_sign else NoSigner()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.http_timeout_s),
                cookie_jar=aiohttp.DummyCookieJar(),  # cookies are sent explicitly, never stored
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def headers(self, *, referer: str = "https://live.bilibili.com/") -> dict[str, str]:
        cookies = []
        if self.settings.sessdata is not None:
            cookies.append(f"SESSDATA={self.settings.sessdata.get_secret_value()}")
        if self.settings.bili_jct is not None:
            cookies.append(f"bili_jct={self.settings.bili_jct.get_secret_value()}")
        if self._buvid:
            cookies.append(f"buvid3={self._buvid}")
        headers = {"User-Agent": self.settings.user_agent, "Referer": referer, "Origin": referer.rstrip("/")}
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        return headers

    async def get_json(self, url: str, params: Mapping[str, str | int] | None = None, *, what: str) -> dict[str, Any]:
        try:
            async with self.session.get(url, params=params, headers=self.headers()) as response:
                error = http_error(response.status, response.headers, what, blocked_retry_s=self.settings.blocked_retry_s)
                if error is not None:
                    raise error
                return self._parse(await response.read(), what)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientError(f"{what}: {type(error).__name__}: {error}") from None

    async def post_form(
        self, url: str, form: Mapping[str, str], *, what: str, idempotency_key: str = "", referer: str = "https://live.bilibili.com/"
    ) -> dict[str, Any]:
        headers = self.headers(referer=referer)
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            async with self.session.post(url, data=dict(form), headers=headers) as response:
                error = http_error(response.status, response.headers, what, blocked_retry_s=self.settings.blocked_retry_s)
                if error is not None:
                    raise error
                return self._parse(await response.read(), what)
        except (aiohttp.ClientError, TimeoutError) as error:
            # The request may or may not have reached the platform; the retry carries the same key.
            raise TransientError(f"{what}: {type(error).__name__}: {error}") from None

    @staticmethod
    def _parse(raw: bytes, what: str) -> dict[str, Any]:
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise TransientError(f"{what}: answer is not JSON ({raw[:60]!r})") from None
        if not isinstance(answer, dict):
            raise TransientError(f"{what}: answer is not a JSON object")
        return answer

    async def _nav(self) -> dict[str, Any]:
        return await self.get_json(f"{self.settings.api_base}/x/web-interface/nav", what="nav")

    async def _wbi_urls(self) -> tuple[str, str]:
        answer = await self._nav()  # answers -101 when logged out, but still carries wbi_img
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        wbi = data.get("wbi_img") if isinstance(data, dict) else None
        if not isinstance(wbi, dict) or not isinstance(wbi.get("img_url"), str) or not isinstance(wbi.get("sub_url"), str):
            raise TransientError("nav: no wbi_img in the answer; cannot sign getDanmuInfo")
        return wbi["img_url"], wbi["sub_url"]

    async def own_uid(self) -> int:
        """Our account's uid (0 when not logged in), from settings or /nav."""
        if self._uid is None:
            answer = await self._nav()
            if answer.get("code") == -101:
                raise AuthExpired("nav: SESSDATA is not logged in (-101); refresh the cookies")
            data = _data(answer, "nav")
            self._uid = int(data.get("mid") or 0) if data.get("isLogin") else 0
            if self._uid == 0 and self.settings.sessdata is not None:
                raise AuthExpired("nav: SESSDATA is not logged in; refresh the cookies")
        return self._uid

    async def buvid(self) -> str:
        if not self._buvid:
            try:
                async with self.session.get(f"{self.settings.www_base}/", headers=self.headers()) as response:
                    morsel = response.cookies.get("buvid3")
                    if morsel is not None and morsel.value:
                        self._buvid = morsel.value
            except (aiohttp.ClientError, TimeoutError) as error:
                log.warning("bilibili: could not fetch buvid3 (%s); continuing without", error)
        return self._buvid

    async def room_init(self, room: str) -> RoomInit:
        """Short id → real id (cached)."""
        if room not in self._rooms:
            answer = await self.get_json(
                f"{self.settings.live_api_base}/room/v1/Room/get_info", {"room_id": room}, what="room_init"
            )
            self._rooms[room] = parse_room_init(answer)
        return self._rooms[room]

    async def danmu_info(self, room_id: int) -> DanmuInfo:
        params = await self.signer.sign({"id": room_id, "type": 0})
        answer = await self.get_json(
            f"{self.settings.live_api_base}/xlive/web-room/v1/index/getDanmuInfo", params, what="getDanmuInfo"
        )
        if answer.get("code") == -352:
            self.signer.reset()
        return parse_danmu_info(answer)

    async def bootstrap(self, room: str) -> Bootstrap:
        uid = await self.own_uid()
        buvid = await self.buvid()
        init = await self.room_init(room)
        info = await self.danmu_info(init.room_id)
        return Bootstrap(room=init, uid=uid, buvid=buvid, token=info.token, urls=ws_urls(info, self.settings.ws_scheme))
