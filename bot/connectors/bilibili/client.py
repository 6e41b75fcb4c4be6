"""One live room as a ``Source``: bootstrap, open the danmaku socket, authenticate within the
time limit, heartbeat, turn frames into events; reconnecting is ``common.reconnecting``'s job.

Bilibili offers no resumable position: every item carries ``cursor=None`` and reconnect
replays are dropped by message id (``RecentIds``). Our own danmaku come back like anyone
else's; they are marked ``is_self`` and followed by a ``SendEcho``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import aiohttp

from bot.connectors.base import ConnectorHealth
from bot.connectors.bilibili import frames
from bot.connectors.bilibili.api import BilibiliApi
from bot.connectors.bilibili.decode import PLATFORM, decode_command
from bot.connectors.common import EchoTracker, RecentIds, ReconnectPolicy, hex_excerpt, reconnecting
from bot.connectors.errors import ProtocolError, TransientError
from handlers.events import ChatMessage, Event, Origin, SendEcho, SourceItem

log = logging.getLogger(__name__)


class RoomSource:
    """Danmaku, follows, entries, gifts, likes and live start/end of one room."""

    def __init__(
        self,
        *,
        room: str,
        account: str,
        api: BilibiliApi,
        health: ConnectorHealth,
        echo: EchoTracker,
        recent: RecentIds,
        policy: ReconnectPolicy,
        name: str = "bilibili",
    ) -> None:
        self.room = room
        self.key = f"bilibili:room:{room}"
        self.origin = Origin(platform=PLATFORM, account=account, kind="live", key=room)
        self._api = api
        self._settings = api.settings
        self._health = health
        self._echo = echo
        self._recent = recent
        self._policy = policy
        self._name = f"{name}:{room}"
        self._attempt = 0

    def stream(self, cursor: str | None) -> AsyncIterator[SourceItem]:
        return reconnecting(
            self._session,
            None,  # nothing to resume from on Bilibili
            policy=self._policy,
            health=self._health,
            name=self._name,
            silence_s=self._settings.silence_s,
        )

    async def _session(self, _cursor: str | None) -> AsyncIterator[SourceItem]:
        boot = await self._api.bootstrap(self.room)
        if boot.uid:
            self._echo.own_user_ids.add(str(boot.uid))
        url = boot.urls[self._attempt % len(boot.urls)]
        self._attempt += 1
        try:
            ws = await self._api.session.ws_connect(
                url, headers={"User-Agent": self._settings.user_agent}, autoping=True, max_msg_size=8 * 1024 * 1024
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientError(f"connect {url}: {type(error).__name__}: {error}") from None
        heartbeat: asyncio.Task[None] | None = None
        try:
            await ws.send_bytes(
                frames.encode_packet(
                    frames.Op.AUTH,
                    frames.auth_body(uid=boot.uid, roomid=boot.room.room_id, token=boot.token, buvid=boot.buvid),
                )
            )
            pending = await self._await_auth_reply(ws)
            heartbeat = asyncio.create_task(self._heartbeat(ws))
            log.info("%s: connected to %s (real room %d)", self._name, url, boot.room.room_id)
            for packet in pending:
                for item in self._items(packet):
                    yield item
            malformed_in_a_row = 0
            while True:
                data = await self._receive(ws)
                try:
                    packets = frames.decode_message(data)
                except ProtocolError as error:
                    malformed_in_a_row += 1
                    self._malformed(error, data)
                    if malformed_in_a_row >= self._settings.max_malformed_in_a_row:
                        raise TransientError(f"{malformed_in_a_row} malformed frames in a row") from None
                    continue
                malformed_in_a_row = 0
                for packet in packets:
                    for item in self._items(packet):
                        yield item
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await heartbeat
            await ws.close()

    async def _await_auth_reply(self, ws: aiohttp.ClientWebSocketResponse) -> list[frames.Packet]:
        """Wait for op 8; packets that arrive with it are returned to be handled after."""
        deadline = time.monotonic() + self._settings.auth_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientError(f"no auth reply within {self._settings.auth_timeout_s:g}s")
            data = await self._receive(ws, wait_s=remaining, what="auth reply")
            try:
                packets = frames.decode_message(data)
            except ProtocolError as error:
                self._malformed(error, data)
                continue
            for index, packet in enumerate(packets):
                if packet.op == frames.Op.AUTH_REPLY:
                    reply = frames.json_body(packet)
                    code = reply.get("code")
                    if code == -101:  # token error: fetch a fresh token on reconnect
                        raise TransientError("danmaku auth refused the token (-101)")
                    if code != 0:
                        raise TransientError(f"danmaku auth failed: code {code}")
                    await ws.send_bytes(frames.encode_packet(frames.Op.HEARTBEAT, b"{}"))  # first one at once
                    return packets[index + 1 :]

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse, *, wait_s: float | None = None, what: str = "data") -> bytes:
        wait = wait_s if wait_s is not None else self._settings.effective_receive_timeout_s
        try:
            message = await ws.receive(timeout=wait)
        except TimeoutError:
            raise TransientError(f"no {what} for {wait:g}s (server stopped heartbeating)") from None
        if message.type == aiohttp.WSMsgType.BINARY:
            return bytes(message.data)
        if message.type == aiohttp.WSMsgType.TEXT:
            return str(message.data).encode("utf-8")
        if message.type == aiohttp.WSMsgType.ERROR:
            raise TransientError(f"websocket error: {ws.exception()}")
        raise TransientError(f"websocket closed ({message.type.name}, code {ws.close_code})")

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        packet = frames.encode_packet(frames.Op.HEARTBEAT, b"{}")
        while not ws.closed:
            await asyncio.sleep(self._settings.heartbeat_s)
            try:
                await ws.send_bytes(packet)
            except (aiohttp.ClientError, ConnectionError, RuntimeError) as error:
                log.debug("%s: heartbeat not sent: %s", self._name, error)
                return

    def _malformed(self, error: ProtocolError, data: bytes) -> None:
        self._health.malformed_frames += 1
        self._health.last_error = f"ProtocolError: {error}"
        log.warning("%s: malformed frame (%s): %s", self._name, error, hex_excerpt(data))

    def _items(self, packet: frames.Packet) -> list[SourceItem]:
        if packet.op == frames.Op.HEARTBEAT_REPLY:
            self._health.extra[f"popularity:{self.room}"] = float(frames.popularity(packet))
            return []
        if packet.op != frames.Op.SEND_MSG_REPLY:
            return []
        now = time.time()
        try:
            event = decode_command(frames.json_body(packet), self.origin, now=now)
        except ProtocolError as error:
            self._malformed(error, packet.body)
            return []
        if event is None:
            return []
        if self._recent.seen(event.event_id):
            self._health.duplicates_dropped += 1
            return []
        events: list[Event] = [event]
        if isinstance(event, ChatMessage):
            events = self._with_echo(event)
        return [SourceItem(event=e, cursor=None, received_at=now) for e in events]

    def _with_echo(self, message: ChatMessage) -> list[Event]:
        own = self._echo.own_user_ids
        if own and message.viewer.user_id not in own:
            return [message]  # someone else, even if they typed the same words
        is_self, key = self._echo.claim(self.room, message.viewer.user_id, message.text, now=time.time())
        if not is_self:
            return [message]
        mine = ChatMessage(
            origin=message.origin,
            event_id=message.event_id,
            viewer=message.viewer,
            text=message.text,
            ts=message.ts,
            reply_to=message.reply_to,
            is_self=True,
        )
        echo = SendEcho(
            origin=message.origin,
            event_id=f"echo:{message.event_id}",
            ts=message.ts,
            text=message.text,
            idempotency_key=key,
            platform_message_id=message.event_id.removeprefix("dm:"),
        )
        return [mine, echo]
