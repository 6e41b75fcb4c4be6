"""Sending as the merchant's Bilibili account: live danmaku (``/msg/send``) and private
messages (``web_im/v1/web_im/send_msg``), with every platform answer mapped to a typed error.

No retry loop here: the outbox retries (same idempotency key, honouring ``retry_after``). The
key travels as the ``Idempotency-Key`` header (simulator) and shapes the fields Bilibili has
for it: ``rnd`` of a danmaku and ``dev_id`` of a private message are derived from it, so a
retry is recognisably the same message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from typing import Any

from bot.connectors.base import OutgoingMessage, SendReceipt
from bot.connectors.bilibili.api import BilibiliApi, check_code
from bot.connectors.bilibili.decode import PLATFORM
from bot.connectors.common import EchoTracker
from bot.connectors.errors import AuthExpired, PermanentError, RateLimited

log = logging.getLogger(__name__)

DM_MAX_BYTES = 2000
_DM_NAMESPACE = uuid.UUID("6f1d8c1e-4d8a-4f63-9a53-0b1c1b2e3a44")

# Danmaku answer codes (API-collect docs/live/danmaku.md): -101 not logged in, -111 csrf,
# -400 bad request, 10030/10031 too fast, 1003212 too long.
DANMAKU_RATE_CODES = frozenset({10030, 10031})
DANMAKU_TOO_LONG = 1003212
# Private message codes (docs/message/private_msg.md): 21047 one message before they reply or
# follow, 21020/21046 too often, 25003 recipient's privacy settings, 21015 phone binding, 21007 too long.
DM_ONE_PER_STRANGER = 21047
DM_RATE_CODES = frozenset({21020, 21046})


def rnd_for(idempotency_key: str) -> str:
    """A stable 10-digit ``rnd`` for a key (the web client sends unix seconds there)."""
    digest = hashlib.blake2b(idempotency_key.encode("utf-8"), digest_size=8).digest()
    return str(1_000_000_000 + int.from_bytes(digest, "big") % 9_000_000_000)


class BilibiliSender:
    platform = PLATFORM

    def __init__(self, api: BilibiliApi, echo: EchoTracker) -> None:
        self._api = api
        self._settings = api.settings
        self._echo = echo

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if message.channel == "live_chat":
            return await self._danmaku(message)
        if message.channel == "private_message":
            return await self._private(message)
        raise PermanentError(f"bilibili cannot send on channel {message.channel!r} (live_chat, private_message)")

    def _csrf(self) -> str:
        if self._settings.sessdata is None or self._settings.bili_jct is None:
            raise AuthExpired("bilibili: sending needs the SESSDATA and bili_jct cookies of the account")
        return self._settings.bili_jct.get_secret_value()

    async def _danmaku(self, message: OutgoingMessage) -> SendReceipt:
        text = message.text.strip()
        limit = self._settings.danmaku_max_chars
        if not text:
            raise PermanentError("empty danmaku", code="empty")
        if len(text) > limit:
            raise PermanentError(
                f"danmaku is {len(text)} characters; this account may send at most {limit} (danmaku_max_chars)",
                code=DANMAKU_TOO_LONG,
            )
        csrf = self._csrf()
        room = await self._api.room_init(message.target)
        form = {
            "bubble": "0",
            "msg": text,
            "color": "16777215",
            "mode": "1",
            "room_type": "0",
            "jumpfrom": "0",
            "fontsize": "25",
            "rnd": rnd_for(message.idempotency_key),
            "roomid": str(room.room_id),
            "csrf": csrf,
            "csrf_token": csrf,
        }
        # Noted before the call: the echo can arrive on the socket before the HTTP answer does.
        self._echo.note_sent(message.target, text, message.idempotency_key)
        answer = await self._api.post_form(
            f"{self._settings.live_api_base}/msg/send",
            form,
            what="danmaku send",
            idempotency_key=message.idempotency_key,
            referer=f"https://live.bilibili.com/{message.target}",
        )
        code = answer.get("code")
        reason = str(answer.get("message") or answer.get("msg") or "")
        if code in DANMAKU_RATE_CODES:
            raise RateLimited(f"danmaku too fast ({code} {reason})", retry_after=self._settings.rate_limited_retry_s)
        if code == DANMAKU_TOO_LONG:
            raise PermanentError(f"danmaku over the platform's length limit ({reason})", code=code)
        check_code(answer, "danmaku send")
        return SendReceipt(platform_message_id=_danmaku_id(answer), echo_expected=True)

    async def _private(self, message: OutgoingMessage) -> SendReceipt:
        text = message.text.strip()
        content = json.dumps({"content": text}, ensure_ascii=False)
        if not text:
            raise PermanentError("empty private message", code="empty")
        if len(content.encode("utf-8")) > DM_MAX_BYTES:
            raise PermanentError(f"private message over {DM_MAX_BYTES} bytes", code=21007)
        receiver = message.recipient_user_id or message.target
        if not receiver.isdigit() or receiver == "0":
            raise PermanentError(f"private message needs the recipient's uid, got {receiver!r}", code="no_recipient")
        csrf = self._csrf()
        sender_uid = await self._api.own_uid()
        form = {
            "msg[sender_uid]": str(sender_uid),
            "msg[receiver_id]": receiver,
            "msg[receiver_type]": "1",
            "msg[msg_type]": "1",
            "msg[msg_status]": "0",
            "msg[content]": content,
            "msg[dev_id]": str(uuid.uuid5(_DM_NAMESPACE, message.idempotency_key)).upper(),
            "msg[timestamp]": str(int(time.time())),
            "msg[new_face_version]": "0",
            "csrf": csrf,
            "csrf_token": csrf,
        }
        answer = await self._api.post_form(
            f"{self._settings.vc_api_base}/web_im/v1/web_im/send_msg",
            form,
            what="private message",
            idempotency_key=message.idempotency_key,
            referer="https://message.bilibili.com/",
        )
        code = answer.get("code")
        reason = str(answer.get("message") or answer.get("msg") or "")
        if code == DM_ONE_PER_STRANGER:
            raise PermanentError(
                "bilibili allows one private message to a user until they reply or follow you (21047); "
                f"not sent to {receiver}",
                code=code,
            )
        if code in DM_RATE_CODES:
            raise RateLimited(f"private messages too often ({code} {reason})", retry_after=self._settings.rate_limited_retry_s)
        if code == 25003:
            raise PermanentError(f"the recipient's privacy settings refuse private messages (25003 {reason})", code=code)
        if code == 21015:
            raise PermanentError(f"the account must bind a phone number to send private messages (21015 {reason})", code=code)
        if code == 21007:
            raise PermanentError(f"private message too long (21007 {reason})", code=code)
        check_code(answer, "private message")
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        msg_key = data.get("msg_key") if isinstance(data, dict) else None
        return SendReceipt(platform_message_id=str(msg_key) if msg_key else None, echo_expected=False)


def _danmaku_id(answer: dict[str, Any]) -> str | None:
    data = answer.get("data")
    if not isinstance(data, dict):
        return None
    mode_info = data.get("mode_info")
    if isinstance(mode_info, dict) and isinstance(mode_info.get("extra"), str):
        try:
            extra = json.loads(mode_info["extra"])
        except json.JSONDecodeError:
            return None
        if isinstance(extra, dict) and isinstance(extra.get("id_str"), str):
            return str(extra["id_str"])
    return None
