"""Room bootstrap over HTTP: the ttwid cookie, the numeric room id, the im/fetch cursor.

``live.douyin.com/{web_rid}`` embeds the numeric ``roomId`` (it changes per broadcast) in
escaped JSON; the push WebSocket needs it, the cookie ``ttwid`` and a starting cursor.
"""

from __future__ import annotations

import random
import re
import string
import time
from dataclasses import dataclass

import aiohttp

from bot.connectors.douyin import frames
from bot.connectors.errors import ConnectorError, PermanentError, RateLimited, TransientError
from bot.connectors.httpkit import retry_after_seconds

ROOM_ID_RE = re.compile(r'roomId\\":\\"(\d+)\\"')
UNIQUE_ID_RE = re.compile(r'user_unique_id\\":\\"(\d+)\\"')
_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True, slots=True)
class RoomInfo:
    web_rid: str
    room_id: str
    user_unique_id: str
    ttwid: str
    ms_token: str
    fetched_at: float = 0.0  # unix s; the room id is valid for one broadcast

    @property
    def cookie(self) -> str:
        return f"ttwid={self.ttwid}; msToken={self.ms_token}" if self.ttwid else f"msToken={self.ms_token}"


def parse_room_page(html: str) -> tuple[str | None, str | None]:
    """(room id, user_unique_id) found in the room page, None where absent."""
    room = ROOM_ID_RE.search(html)
    unique = UNIQUE_ID_RE.search(html)
    return (room.group(1) if room else None, unique.group(1) if unique else None)


def default_cursor(now_ms: int | None = None) -> tuple[str, str]:
    """Cursor and internal_ext a browser uses when it did not prefetch (protocols.md §2.2)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"d-1_u-1_fh-{ms}_t-{ms}_r-1", f"internal_src:dim|first_req_ms:{ms}|fetch_time:{ms}|seq:1|wss_info:0-{ms}-0-0"


def http_error(status: int, retry_after: str | None, what: str) -> ConnectorError:
    """Typed error for a failed HTTP answer."""
    if status == 429:
        return RateLimited(f"{what}: HTTP 429", retry_after=seconds(retry_after))
    if status >= 500:
        return TransientError(f"{what}: HTTP {status}", retry_after=seconds(retry_after))
    if status == 404:
        return PermanentError(f"{what}: HTTP 404 (no such room?)", code=404)
    # 403 is what a captcha / risk-control page answers: worth retrying later, not fatal
    return TransientError(f"{what}: HTTP {status}")


seconds = retry_after_seconds  # Retry-After → seconds (shared with every connector)


def _ms_token() -> str:
    return "".join(random.choices(_TOKEN_ALPHABET, k=182))


async def fetch_room(http: aiohttp.ClientSession, live_base: str, web_rid: str, user_agent: str) -> RoomInfo:
    """GET ``/`` (ttwid cookie) then ``/{web_rid}`` (room id). Raises typed connector errors."""
    headers = {"User-Agent": user_agent, "Referer": f"{live_base}/"}
    try:
        async with http.get(f"{live_base}/", headers=headers) as home:
            ttwid_cookie = home.cookies.get("ttwid")
            ttwid = ttwid_cookie.value if ttwid_cookie is not None else ""
            if home.status >= 400:
                raise http_error(home.status, home.headers.get("Retry-After"), "live home page")
        ms_token = _ms_token()
        cookie = f"ttwid={ttwid}; msToken={ms_token}" if ttwid else f"msToken={ms_token}"
        async with http.get(f"{live_base}/{web_rid}", headers={**headers, "Cookie": cookie}) as page:
            if page.status >= 400:
                raise http_error(page.status, page.headers.get("Retry-After"), f"room page {web_rid}")
            html = await page.text(errors="replace")
            if not ttwid and page.cookies.get("ttwid") is not None:
                ttwid = page.cookies["ttwid"].value
    except aiohttp.ClientError as error:
        raise TransientError(f"room page {web_rid}: {error!r}") from None
    room_id, unique_id = parse_room_page(html)
    if room_id is None:
        raise TransientError(f"room page {web_rid}: no roomId in the page (captcha or layout change?)")
    unique_id = unique_id or str(random.randrange(7_000_000_000_000_000_000, 7_999_999_999_999_999_999))
    return RoomInfo(web_rid, room_id, unique_id, ttwid, ms_token, fetched_at=time.time())


async def prefetch(http: aiohttp.ClientSession, live_base: str, room: RoomInfo, user_agent: str) -> frames.Response:
    """GET ``/webcast/im/fetch/``: a protobuf ``Response`` with a fresh cursor and internal_ext."""
    params = {
        "resp_content_type": "protobuf",
        "did_rule": "3",
        "app_name": "douyin_web",
        "endpoint": "live_pc",
        "support_wrds": "1",
        "user_unique_id": room.user_unique_id,
        "identity": "audience",
        "need_persist_msg_count": "15",
        "room_id": room.room_id,
        "version_code": "180800",
        "last_rtt": "0",
        "live_id": "1",
        "aid": "6383",
        "fetch_rule": "1",
        "cursor": "",
        "internal_ext": "",
        "device_platform": "web",
        "msToken": room.ms_token,
    }
    headers = {"User-Agent": user_agent, "Cookie": room.cookie, "Referer": f"{live_base}/{room.web_rid}"}
    try:
        async with http.get(f"{live_base}/webcast/im/fetch/", params=params, headers=headers) as resp:
            if resp.status >= 400:
                raise http_error(resp.status, resp.headers.get("Retry-After"), "im/fetch")
            body = await resp.read()
    except aiohttp.ClientError as error:
        raise TransientError(f"im/fetch: {error!r}") from None
    return frames.decode_response(body)
