"""Reading from and sending to the built-in simulator (see simulator.py for the protocol)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from bot.connectors.base import ConnectorHealth, OutgoingMessage, SendReceipt
from bot.connectors.common import EchoTracker, RecentIds, ReconnectPolicy, hex_excerpt, reconnecting
from bot.connectors.errors import AuthExpired, PermanentError, ProtocolError, RateLimited, TransientError
from bot.connectors.httpkit import retry_after_seconds
from bot.connectors.sim.simulator import CLOSE_LIVE_ENDED
from handlers.events import (
    ChatMessage,
    Follow,
    LiveEnded,
    LiveScheduled,
    LiveStarted,
    Origin,
    SendEcho,
    SourceItem,
    Viewer,
)

log = logging.getLogger(__name__)
PLATFORM = "sim"
# The simulator resumes exactly from ``seq``, so duplicates only come from a reconnect racing a
# frame: a short memory is enough (50,000 ids per room cost ~100 MB over 20 busy rooms).
SEEN_IDS = 5_000


def decode_frame(raw: str, origin: Origin, echo: EchoTracker) -> list[Any]:
    """One JSON frame → events (pure). Raises ProtocolError on anything malformed."""
    return decode_frame_seq(raw, origin, echo)[1]


def decode_frame_seq(raw: str, origin: Origin, echo: EchoTracker) -> tuple[str, list[Any]]:
    """One JSON frame → (its seq, the events), parsing the JSON once. Raises ProtocolError."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ProtocolError("frame is not JSON", excerpt=raw.encode("utf-8", "replace")) from None
    seq_value = data.get("seq") if isinstance(data, dict) else None
    if not isinstance(seq_value, int) or isinstance(seq_value, bool) or "type" not in data:
        # bool is an int in Python: "seq": false would become the cursor "False"
        raise ProtocolError("frame lacks seq/type", excerpt=raw.encode("utf-8", "replace"))
    kind = data["type"]
    event_id = str(data.get("id") or f"{origin.key}-{data['seq']}")
    try:
        ts = float(data.get("ts") or 0.0)
    except (TypeError, ValueError):
        raise ProtocolError("frame has a non-numeric ts", excerpt=raw.encode("utf-8", "replace")) from None
    viewer = Viewer(PLATFORM, str(data.get("user_id", "")), str(data.get("nickname", ""))[:100])
    seq = str(data["seq"])
    if kind == "chat":
        text = str(data.get("text", ""))
        is_self, key = echo.claim(origin.key, viewer.user_id, text)
        events: list[Any] = [ChatMessage(origin, event_id, viewer, text, ts, is_self=is_self or bool(data.get("self")))]
        if is_self or data.get("self"):
            echo_key = key or data.get("idempotency_key")
            events.append(SendEcho(origin, f"echo-{event_id}", ts, text, str(echo_key) if echo_key else None, event_id))
        return seq, events
    if kind == "follow":
        return seq, [Follow(origin, event_id, viewer, ts)]
    if kind == "live_start":
        return seq, [LiveStarted(origin, event_id, ts)]
    if kind == "live_end":
        return seq, [LiveEnded(origin, event_id, ts)]
    if kind == "scheduled":
        try:
            starts_at = float(data["starts_at"])
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("scheduled frame lacks starts_at", excerpt=raw.encode("utf-8", "replace")) from None
        return seq, [LiveScheduled(origin, event_id, ts, starts_at, str(data.get("title", ""))[:100])]
    raise ProtocolError(f"unknown frame type {kind!r}"[:200], excerpt=raw.encode("utf-8", "replace"))


class SimRoomSource:
    def __init__(
        self,
        base_url: str,
        room: str,
        account: str,
        health: ConnectorHealth,
        echo: EchoTracker,
        policy: ReconnectPolicy,
        silence_s: float | None,
        stop_at_live_end: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.room = room
        self.key = f"sim:room:{room}"
        self.origin = Origin(PLATFORM, account, "live", room)
        self.health = health
        self.echo = echo
        self.policy = policy
        self.silence_s = silence_s
        self.stop_at_live_end = stop_at_live_end

    def stream(self, cursor: str | None) -> AsyncIterator[SourceItem]:
        # Each stream has its own memory of the ids it yielded (kept across its reconnects): a new
        # stream resumes from the stored cursor, and what an earlier stream saw may never have been
        # committed (lease lost, batch refused), so it must not be dropped as a duplicate — even
        # if that earlier stream is still winding down.
        seen = RecentIds(SEEN_IDS)
        return reconnecting(
            lambda at: self._session(at, seen),
            cursor,
            policy=self.policy,
            health=self.health,
            name=self.key,
            silence_s=self.silence_s,
        )

    async def _session(self, cursor: str | None, seen: RecentIds) -> AsyncIterator[SourceItem]:
        after = cursor or "0"
        url = f"{self.base_url}/ws"
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, params={"room": self.room, "after": after}, heartbeat=20) as ws:
                async for message in ws:
                    if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING) and self.stop_at_live_end:
                        if ws.close_code == CLOSE_LIVE_ENDED or message.data == CLOSE_LIVE_ENDED:
                            return
                    if message.type != aiohttp.WSMsgType.TEXT:
                        if message.type == aiohttp.WSMsgType.ERROR:
                            raise TransientError(f"websocket error: {ws.exception()}")
                        continue
                    for line in message.data.split("\n"):  # one or more frames per message
                        try:
                            seq, events = decode_frame_seq(line, self.origin, self.echo)
                        except ProtocolError as error:
                            self.health.malformed_frames += 1
                            log.warning("%s: malformed frame skipped: %s", self.key, error)
                            continue
                        for event in events:
                            if seen.seen(event.event_id):
                                self.health.duplicates_dropped += 1
                                continue
                            yield SourceItem(event, seq)
                            if isinstance(event, LiveEnded) and self.stop_at_live_end:
                                return
                if ws.close_code == CLOSE_LIVE_ENDED and self.stop_at_live_end:
                    return
                raise TransientError(f"connection closed by the simulator (code {ws.close_code})")


class SimSender:
    """Sends through ``POST /api/send``; maps HTTP failures to typed errors."""

    platform = PLATFORM
    echo_channels = ("live_chat",)

    def __init__(self, base_url: str, echo: EchoTracker, min_interval_s: float, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.echo_tracker = echo
        self.min_interval_s = min_interval_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        body = {
            "channel": message.channel,
            "target": message.target,
            "text": message.text,
            "recipient": message.recipient_user_id,
        }
        try:
            async with self._session.post(
                f"{self.base_url}/api/send", json=body, headers={"Idempotency-Key": message.idempotency_key}
            ) as response:
                payload = await response.text()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientError(f"cannot reach the simulator: {error}") from None
        if status == 200:
            data = json.loads(payload)
            return SendReceipt(str(data.get("message_id")), echo_expected=message.channel in self.echo_channels)
        if status == 429:
            raise RateLimited("simulator says too fast", retry_after=retry_after_seconds(retry_after))
        if status == 401:
            raise AuthExpired("simulator rejected the credentials")
        if status >= 500:
            raise TransientError(f"simulator error {status}: {hex_excerpt(payload.encode())}")
        raise PermanentError(f"simulator refused the message ({status}): {payload[:200]}", code=status)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
