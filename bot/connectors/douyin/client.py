"""One Douyin live room as a ``Source``: bootstrap, push WebSocket, ACKs, heartbeats, resume.

A session: fetch the room page (or reuse it within ``room_info_ttl_s``) (ttwid cookie, numeric room id) → cursor (stored one, else
``im/fetch`` prefetch, else the browser default) → signed push URL carrying ``cursor`` and
``internal_ext`` → binary ``PushFrame``s. Each ``msg`` frame's gzip ``Response`` is ACKed
when ``needAck`` and turned into events; a heartbeat frame (``3a026862``) goes out every
``heartbeat_s``. Reconnects are ``common.reconnecting``'s job.

Resume: the Source cursor packs the Response ``cursor`` and ``internal_ext``
(``cursor=...&internal_ext=...``). Events of one Response carry the *previous* position
except the last, which carries the new one — a restart in the middle of a Response replays
that Response and de-duplication by message id drops what was already handled, so nothing
acknowledged is lost and nothing is emitted twice.

Watchdog: any frame (including the server's heartbeat replies) proves the socket alive; no
frame for ``silence_s`` → reconnect. It is done here on frames rather than with
``reconnecting(silence_s=...)`` on events, because a quiet room legitimately has no events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlencode

import aiohttp

from bot.connectors.base import ConnectorHealth
from bot.connectors.common import EchoTracker, RecentIds, ReconnectPolicy, hex_excerpt, reconnecting
from bot.connectors.douyin import frames, room
from bot.connectors.douyin.decode import PLATFORM, to_event
from bot.connectors.douyin.settings import DouyinSettings
from bot.connectors.douyin.signer import Signer, push_params, push_url
from bot.connectors.errors import ProtocolError, TransientError
from handlers.events import ChatMessage, Event, LiveEnded, Origin, SendEcho, SourceItem

log = logging.getLogger(__name__)
MAX_FRAME_BYTES = 4 * 1024 * 1024


def pack_cursor(cursor: str, internal_ext: str) -> str:
    return urlencode({"cursor": cursor, "internal_ext": internal_ext})


def unpack_cursor(value: str | None) -> tuple[str, str] | None:
    """(cursor, internal_ext) from a stored Source cursor; None when absent or unusable."""
    if not value:
        return None
    parsed = parse_qs(value, keep_blank_values=True)
    cursor = parsed.get("cursor", [""])[0]
    if not cursor:
        log.warning("douyin: ignoring unusable stored cursor %r", value[:80])
        return None
    return cursor, parsed.get("internal_ext", [""])[0]


@dataclasses.dataclass
class DouyinRoomSource:
    """``douyin:room:<web_rid>``. ``directory`` is shared with the sender (web_rid → RoomInfo)."""

    web_rid: str
    settings: DouyinSettings
    health: ConnectorHealth
    echo: EchoTracker
    signer: Signer
    directory: dict[str, room.RoomInfo]
    account: str = "default"
    key: str = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.key = f"douyin:room:{self.web_rid}"

    def stream(self, cursor: str | None) -> AsyncIterator[SourceItem]:
        policy = ReconnectPolicy(initial_s=self.settings.reconnect_initial_s, max_s=self.settings.reconnect_max_s)
        # Duplicate memory per stream (kept across its reconnects, where the push replays a few
        # frames): a new stream resumes from the stored cursor and must not drop what an earlier
        # stream saw but never got committed (lease lost, batch refused).
        recent = RecentIds(20_000)
        return reconnecting(lambda at: self._session(at, recent), cursor, policy=policy, health=self.health, name=self.key)

    def _malformed(self, error: ProtocolError, data: bytes) -> None:
        self.health.malformed_frames += 1
        log.warning("%s: malformed frame skipped: %s (%s)", self.key, error, hex_excerpt(data))

    async def _position(self, http: aiohttp.ClientSession, info: room.RoomInfo, cursor: str | None) -> tuple[str, str]:
        stored = unpack_cursor(cursor)
        if stored is not None:
            return stored
        if self.settings.prefetch:
            try:
                fetched = await room.prefetch(http, self.settings.live_base_url, info, self.settings.user_agent)
                if fetched.cursor:
                    return fetched.cursor, fetched.internal_ext
            except (TransientError, ProtocolError) as error:
                log.warning("%s: im/fetch failed, starting from the live edge: %s", self.key, error)
        return room.default_cursor()

    async def _session(self, cursor: str | None, recent: RecentIds) -> AsyncIterator[SourceItem]:
        s = self.settings
        timeout = aiohttp.ClientTimeout(total=None, connect=s.connect_timeout_s, sock_read=None)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout) as http:
            info = self.directory.get(self.web_rid)
            if info is None or time.time() - info.fetched_at > s.room_info_ttl_s:
                info = await room.fetch_room(http, s.live_base_url, self.web_rid, s.user_agent)
                self.directory[self.web_rid] = info
            position = await self._position(http, info, cursor)
            params = push_params(
                room_id=info.room_id,
                user_unique_id=info.user_unique_id,
                cursor=position[0],
                internal_ext=position[1],
                user_agent=s.user_agent,
            )
            url = await push_url(s.ws_base_url, params, self.signer)
            headers = {"Cookie": info.cookie, "User-Agent": s.user_agent, "Origin": "https://live.douyin.com"}
            try:
                ws = await http.ws_connect(url, headers=headers, autoping=True, max_msg_size=MAX_FRAME_BYTES)
            except aiohttp.WSServerHandshakeError as error:
                retry_after = error.headers.get("Retry-After") if error.headers else None
                if error.status in (403, 404):
                    self.directory.pop(self.web_rid, None)  # stale room id or cookie: fetch the page again
                raise room.http_error(error.status, retry_after, "push websocket") from None
            except (aiohttp.ClientError, OSError) as error:
                raise TransientError(f"push websocket: {error!r}") from None
            beat = asyncio.create_task(self._heartbeat(ws))
            try:
                async for item in self._frames(ws, info, position, recent):
                    yield item
                    if isinstance(item.event, LiveEnded):
                        self.directory.pop(self.web_rid, None)  # the next broadcast has a new room id
                        return
            finally:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
                await ws.close()

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            try:
                await ws.send_bytes(frames.HEARTBEAT)
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                return  # the receive loop sees the broken socket and reconnects
            self.health.count("heartbeats_sent")
            await asyncio.sleep(self.settings.heartbeat_s)

    async def _frames(
        self, ws: aiohttp.ClientWebSocketResponse, info: room.RoomInfo, position: tuple[str, str], recent: RecentIds
    ) -> AsyncIterator[SourceItem]:
        origin = Origin(PLATFORM, self.account, "live", self.web_rid)
        current = pack_cursor(*position)
        while True:
            try:
                msg = await ws.receive(timeout=self.settings.silence_s)
            except TimeoutError:
                raise TransientError(f"no frame for {self.settings.silence_s:g}s (watchdog)") from None
            if msg.type == aiohttp.WSMsgType.BINARY:
                data: bytes = msg.data
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                raise TransientError(f"push socket closed (code {ws.close_code})")
            elif msg.type == aiohttp.WSMsgType.ERROR:
                raise TransientError(f"push socket error: {ws.exception()!r}")
            else:
                text = msg.data if isinstance(msg.data, str) else ""
                self._malformed(ProtocolError("unexpected non-binary frame"), text.encode()[:64])
                continue
            try:
                frame = frames.decode_frame(data)
                if frame.payload_type != "msg":
                    continue  # "hb" replies (liveness only), "close" is ignored like browsers do
                response = frames.response_from_frame(frame)
            except ProtocolError as error:
                self._malformed(error, data)
                continue
            if response.need_ack:
                await ws.send_bytes(frames.ack_frame(frame, response))
                self.health.count("acks_sent")
            events = self._events(response, origin, recent)
            new = pack_cursor(response.cursor, response.internal_ext) if response.cursor else current
            now = time.time()
            for index, event in enumerate(events):
                yield SourceItem(event, new if index == len(events) - 1 else current, received_at=now)
            current = new

    def _events(self, response: frames.Response, origin: Origin, recent: RecentIds) -> list[Event]:
        out: list[Event] = []
        for message in response.messages:
            try:
                decoded = to_event(message, origin, response.now or int(time.time() * 1000))
            except ProtocolError as error:
                self._malformed(error, message.payload)
                continue
            if decoded.note and decoded.note != "ignored_method":
                self.health.count(decoded.note)
            event = decoded.event
            if event is None:
                continue
            if recent.seen(f"{type(event).__name__}:{event.event_id}"):
                self.health.duplicates_dropped += 1
                continue
            if isinstance(event, ChatMessage):
                out.extend(self._claim_echo(event))
            else:
                out.append(event)
        return out

    def _claim_echo(self, chat: ChatMessage) -> list[Event]:
        user_id = chat.viewer.user_id
        if self.echo.own_user_ids and user_id not in self.echo.own_user_ids:
            return [chat]  # someone else typing the same words is not our echo
        is_self, idem = self.echo.claim(self.web_rid, user_id, chat.text)
        if not is_self:
            return [chat]
        echo = SendEcho(chat.origin, f"echo:{chat.event_id}", chat.ts, chat.text, idem, chat.event_id)
        return [dataclasses.replace(chat, is_self=True), echo]
