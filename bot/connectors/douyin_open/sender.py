"""Sending through the Douyin Open Platform: comment replies and DMs inside the reply window.

- ``public_reply``: ``POST /item/comment/reply/`` on video ``target`` answering
  ``reply_to_message_id`` (a top-level comment when absent).
- ``private_message``: ``POST /im/send/msg/`` — only as a reply inside the 24 h window a
  user's DM (``im_replay_msg``) or DM-page entry (``im_enter_direct_msg``) opened. Outside a
  window the message is refused *before* any call: the platform would refuse it anyway, and
  unsolicited DMs are what get accounts restricted. The window comes from this process's
  webhook receiver or, when another worker (or this one before a restart) received the DM, from
  the database, attached to the message by the outbox (``OutgoingMessage.reply_window``).
- ``live_chat``: not offered by these APIs → PermanentError.
No retry loop here: errors are typed for the outbox to decide.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.connectors.base import OutgoingMessage, SendReceipt
from bot.connectors.douyin_open.api import DouyinOpenApi
from bot.connectors.douyin_open.client import DmWindows
from bot.connectors.douyin_open.events import DmWindow
from bot.connectors.errors import PermanentError, ProtocolError, TransientError


class DouyinOpenSender:
    platform = "douyin_open"
    uses_reply_windows = True  # the outbox attaches the stored window to private messages

    def __init__(self, api: DouyinOpenApi, windows: DmWindows, *, clock: Callable[[], float] = time.time) -> None:
        self._api = api
        self.windows = windows
        self._clock = clock

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        try:
            if message.channel == "public_reply":
                comment_id = await self._api.comment_reply(
                    message.target, message.reply_to_message_id, message.text, message.idempotency_key
                )
                return SendReceipt(platform_message_id=comment_id or None)
            if message.channel == "private_message":
                return await self._send_dm(message)
        except ProtocolError as error:
            raise TransientError(f"unreadable answer from Douyin: {error}") from None
        raise PermanentError(f"douyin_open cannot send on channel {message.channel!r}", code="channel")

    async def _send_dm(self, message: OutgoingMessage) -> SendReceipt:
        user_id = message.recipient_user_id or message.target
        now = self._clock()
        window = self.windows.find(user_id, message.reply_to_message_id, now)
        stored = message.reply_window
        if stored is not None and stored.until > now and (window is None or stored.until > window.until):
            # opened by a webhook another worker (or this one before a restart) received
            window = DmWindow(user_id, stored.msg_id, stored.conversation_id, stored.scene, stored.until)
        if window is None:
            raise PermanentError(
                f"no open DM window for user {user_id}: Douyin only allows a reply within 24 h of the "
                "user's own message or DM-page visit",
                code="no_dm_window",
            )
        payload = {
            "msg_id": window.msg_id,
            "conversation_id": window.conversation_id,
            "to_user_id": user_id,
            "scene": window.scene,
            "content": {"msg_type": 1, "text": {"text": message.text}},
        }
        msg_id = await self._api.im_send(payload, message.idempotency_key)
        return SendReceipt(platform_message_id=msg_id or None)
