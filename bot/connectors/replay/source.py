"""A recorded stream as a live source: the corpora formats and our JSONL, paced.

The cursor is the record index, so ``leadbot run`` on a replay resumes exactly where the
last committed batch ended. Pacing: ``rate`` messages per second, or ``speed`` × the
recording's own timing (Bilibili XML offsets, JSONL ``ts``), or as fast as possible.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from bot.connectors.base import OutgoingMessage, SendReceipt
from bot.connectors.replay.formats import Format, RecordedLine, read_lines
from handlers.events import ChatMessage, Follow, LiveEnded, LiveStarted, Origin, SourceItem, Viewer

log = logging.getLogger(__name__)
PLATFORM = "replay"


def line_event(line: RecordedLine, origin: Origin, index: int, now: float) -> ChatMessage | Follow | LiveStarted | LiveEnded:
    event_id = line.message_id or f"{origin.key}:{index}"
    ts = line.ts if line.ts is not None else now
    viewer = Viewer(PLATFORM, line.user_id, line.nickname)
    if line.kind == "follow":
        return Follow(origin, event_id, viewer, ts)
    if line.kind == "live_start":
        return LiveStarted(origin, event_id, ts)
    if line.kind == "live_end":
        return LiveEnded(origin, event_id, ts)
    return ChatMessage(origin, event_id, viewer, line.text, ts)


class ReplaySource:
    def __init__(
        self, path: Path, fmt: Format | None, room: str, account: str, *, rate: float, speed: float
    ) -> None:
        self.path = path
        self.fmt = fmt
        self.key = f"replay:{path.name}:{room}"
        self.origin = Origin(PLATFORM, account, "live", room)
        self.rate = rate
        self.speed = speed
        self.bad_records = 0

    def _lines(self, after: int) -> Iterator[tuple[int, RecordedLine]]:
        def on_error(index: int, reason: str) -> None:
            self.bad_records += 1
            log.warning("%s: skipped bad record: %s", self.key, reason)

        for index, line in read_lines(self.path, self.fmt, on_error):
            if index > after:
                yield index, line

    async def stream(self, cursor: str | None) -> AsyncIterator[SourceItem]:
        after = int(cursor) if cursor and cursor.lstrip("-").isdigit() else -1
        lines = await asyncio.to_thread(lambda: list(self._lines(after)))
        started = time.monotonic()
        first_offset: float | None = None
        for count, (index, line) in enumerate(lines):
            offset = line.offset_s if line.offset_s is not None else line.ts
            if self.rate > 0:
                await _sleep_until(started + count / self.rate)
            elif self.speed > 0 and offset is not None:
                first_offset = offset if first_offset is None else first_offset
                await _sleep_until(started + (offset - first_offset) / self.speed)
            elif count % 500 == 0:
                await asyncio.sleep(0)
            yield SourceItem(line_event(line, self.origin, index, time.time()), str(index))


async def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


class JsonlSender:
    """Where replies of a replay go: appended to a JSONL file (what would have been sent)."""

    platform = PLATFORM
    echo_channels: tuple[str, ...] = ()

    def __init__(self, path: Path) -> None:
        self.path = path
        self.min_interval_s = 0.0

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        record = {
            "idempotency_key": message.idempotency_key,
            "channel": message.channel,
            "target": message.target,
            "text": message.text,
            "ts": time.time(),
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        await asyncio.to_thread(_append, self.path, line)
        return SendReceipt(platform_message_id=message.idempotency_key)


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line)
