"""Live-chat replies on Douyin web: ``POST {live_base}/webcast/room/chat/``.

**Unverified against the real platform.** Douyin web has no reliable open send API: the
real call needs a logged-in ``sessionid`` cookie plus signed parameters (``a_bogus``,
``msToken``) that leadbot does not compute (protocols.md §2, last paragraph). This sender
speaks the request shape of the web room-chat endpoint (form ``room_id``, ``content``;
``Cookie: sessionid=...``) and is exercised only against our simulator. For replies on a real
account, use the Douyin Open Platform connector (protocols.md §3), the supported route.

Error mapping (no retry here; the outbox retries): HTTP 429 → RateLimited(Retry-After),
5xx → TransientError, 401/403 or JSON ``status_code`` in ``AUTH_STATUS_CODES`` → AuthExpired,
other 4xx / non-zero ``status_code`` → PermanentError. The simulator's codes are our own
convention (flagged): 20003 "not logged in".
"""

from __future__ import annotations

import json
import logging

import aiohttp
from pydantic import SecretStr

from bot.connectors.base import OutgoingMessage, SendReceipt
from bot.connectors.common import EchoTracker
from bot.connectors.douyin import room
from bot.connectors.douyin.settings import DouyinSettings
from bot.connectors.errors import AuthExpired, PermanentError, RateLimited, TransientError

log = logging.getLogger(__name__)
AUTH_STATUS_CODES = frozenset({20003})  # [?] simulator convention for "not logged in"


class DouyinWebSender:
    platform = "douyin"

    def __init__(
        self, settings: DouyinSettings, sessionid: SecretStr, echo: EchoTracker, directory: dict[str, room.RoomInfo]
    ) -> None:
        self._settings = settings
        self._sessionid = sessionid
        self._echo = echo
        self._directory = directory
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            timeout = aiohttp.ClientTimeout(total=self._settings.send_timeout_s)
            self._http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _room(self, web_rid: str) -> room.RoomInfo:
        info = self._directory.get(web_rid)
        if info is None:
            s = self._settings
            info = await room.fetch_room(self._session(), s.live_base_url, web_rid, s.user_agent)
            self._directory[web_rid] = info
        return info

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if message.channel != "live_chat":
            raise PermanentError(f"douyin web can only send live chat, not {message.channel}", code="channel")
        text = message.text.strip()
        if not text or len(text) > self._settings.max_text_chars:
            raise PermanentError(f"text must have 1..{self._settings.max_text_chars} characters", code="length")
        info = await self._room(message.target)
        s = self._settings
        cookie = f"sessionid={self._sessionid.get_secret_value()}; {info.cookie}"
        headers = {
            "Cookie": cookie,
            "User-Agent": s.user_agent,
            "Referer": f"{s.live_base_url}/{message.target}",
            "Idempotency-Key": message.idempotency_key,
        }
        form = {"room_id": info.room_id, "content": text}
        try:
            async with self._session().post(f"{s.live_base_url}/webcast/room/chat/", data=form, headers=headers) as resp:
                status, retry_after = resp.status, resp.headers.get("Retry-After")
                body = await resp.read()
        except TimeoutError:
            raise TransientError("room chat: timed out") from None
        except aiohttp.ClientError as error:
            raise TransientError(f"room chat: {error!r}") from None
        data = self._check(status, retry_after, body)
        msg_id = str(data.get("msg_id") or "") or None
        user = data.get("user")
        if isinstance(user, dict) and user.get("id_str"):
            self._echo.own_user_ids.add(str(user["id_str"]))
        self._echo.note_sent(message.target, text, message.idempotency_key)
        return SendReceipt(platform_message_id=msg_id, echo_expected=True)

    @staticmethod
    def _check(status: int, retry_after: str | None, body: bytes) -> dict[str, object]:
        if status == 429:
            raise RateLimited("room chat: HTTP 429", retry_after=room.seconds(retry_after))
        if status >= 500:
            raise TransientError(f"room chat: HTTP {status}", retry_after=room.seconds(retry_after))
        if status in (401, 403):
            raise AuthExpired(f"room chat: HTTP {status} (sessionid expired or logged out)")
        if status >= 400:
            raise PermanentError(f"room chat: HTTP {status}", code=status)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise TransientError(f"room chat: answer is not JSON: {body[:60]!r}") from None
        if not isinstance(payload, dict):
            raise TransientError("room chat: answer is not a JSON object")
        code = payload.get("status_code", 0)
        if not isinstance(code, int) or isinstance(code, bool):
            raise TransientError(f"room chat: unexpected status_code {str(code)[:40]!r}")
        if code in AUTH_STATUS_CODES:
            raise AuthExpired(f"room chat: status_code {code} (not logged in)")
        if code != 0:
            raise PermanentError(f"room chat: status_code {code}: {str(payload.get('status_msg', ''))[:100]}", code=code)
        data = payload.get("data")
        return data if isinstance(data, dict) else {}
