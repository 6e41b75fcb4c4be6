"""Sending on YouTube: ``liveChatMessages.insert`` (20 units) and ``comments.insert`` (50 units).

The quota budget is checked before each call (``RateLimited`` until midnight Pacific when it
would run out) and exposed as ``sender.quota`` for the caps engine. Live chat sends are noted
in the EchoTracker: YouTube shows them in the chat, where the source recognises them.
"""

from __future__ import annotations

import json

from bot.connectors.base import OutgoingMessage, SendReceipt
from bot.connectors.common import EchoTracker
from bot.connectors.errors import PermanentError, ProtocolError, RateLimited, TransientError
from bot.connectors.youtube.codec import load_object
from bot.connectors.youtube.http import YouTubeHttp
from bot.connectors.youtube.quota import COSTS, QuotaBudget

MAX_CHAT_CHARS = 200
MAX_COMMENT_CHARS = 10_000


class YouTubeSender:
    platform = "youtube"

    def __init__(self, http: YouTubeHttp, echo: EchoTracker, *, can_send: bool = True) -> None:
        self._http = http
        self._echo = echo
        self._can_send = can_send

    @property
    def quota(self) -> QuotaBudget:
        return self._http.budget

    def _charge(self, method: str) -> int:
        cost = COSTS[method]
        if not self.quota.can_spend(cost):
            raise RateLimited(
                f"youtube: {method} needs {cost} units, {self.quota.remaining()} left today",
                retry_after=self.quota.seconds_until_reset(),
            )
        return cost

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if not self._can_send:
            raise PermanentError("youtube: sending needs OAuth (refresh_token or access_token); api_key is read-only", code="no_oauth")
        if message.channel == "live_chat":
            if len(message.text) > MAX_CHAT_CHARS:
                raise PermanentError(f"live chat messages are limited to {MAX_CHAT_CHARS} characters", code="too_long")
            cost = self._charge("liveChatMessages.insert")
            body = {"snippet": {"liveChatId": message.target, "type": "textMessageEvent",
                                "textMessageDetails": {"messageText": message.text}}}
            self._echo.note_sent(message.target, message.text, message.idempotency_key)
            raw = await self._http.call("POST", "/liveChat/messages", cost=cost, params={"part": "snippet"},
                                        json=body, idempotency_key=message.idempotency_key)
            return SendReceipt(platform_message_id=self._id(raw), echo_expected=True, cost_units=cost)
        if message.channel == "public_reply":
            if len(message.text) > MAX_COMMENT_CHARS:
                raise PermanentError("comment text too long", code="commentTextTooLong")
            cost = self._charge("comments.insert")
            parent = message.reply_to_message_id or message.target
            body = {"snippet": {"parentId": parent, "textOriginal": message.text}}
            raw = await self._http.call("POST", "/comments", cost=cost, params={"part": "snippet"},
                                        json=body, idempotency_key=message.idempotency_key)
            return SendReceipt(platform_message_id=self._id(raw), cost_units=cost)
        raise PermanentError(f"youtube has no {message.channel} channel", code="channel")

    @staticmethod
    def _id(raw: bytes) -> str | None:
        try:
            value = load_object(raw).get("id")
        except (ProtocolError, json.JSONDecodeError) as error:
            raise TransientError(f"youtube: unreadable answer to a send: {error}") from None
        return value if isinstance(value, str) else None
