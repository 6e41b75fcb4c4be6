"""YouTube sources: live chat polling (``liveChatMessages.list``) and comment-thread polling.

Live chat: wait ``pollingIntervalMillis`` (or longer when the quota budget says so) and pass
``pageToken=nextPageToken``. The Source cursor is the page token after a whole page, or
``"<token>#<message id>"`` inside a page, so a restart re-reads that page and skips what was
taken. ``offlineAt`` (or ``chatEndedEvent`` / ``liveChatEnded``) ends the stream with LiveEnded.

Comments: ``commentThreads.list`` newest first; each poll pages back until the last comment
already seen (the cursor ``"<comment id>@<published ts>"``), then yields the new ones oldest first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable

from bot.connectors.base import ConnectorHealth
from bot.connectors.common import EchoTracker, RecentIds, ReconnectPolicy, reconnecting
from bot.connectors.errors import PermanentError, RateLimited
from bot.connectors.youtube.codec import parse_chat_page, parse_comment_threads
from bot.connectors.youtube.decode import PLATFORM, chat_item_event, thread_event
from bot.connectors.youtube.http import YouTubeHttp
from bot.connectors.youtube.quota import COSTS
from handlers.events import ChatMessage, LiveEnded, Origin, SendEcho, SourceItem

log = logging.getLogger(__name__)

ENDED_REASONS = frozenset({"liveChatEnded", "liveChatNotFound", "liveChatDisabled"})


async def _pause(sleep: Callable[[float], object], seconds: float) -> None:
    result = sleep(seconds)
    if asyncio.iscoroutine(result):
        await result


class LiveChatSource:
    def __init__(
        self,
        http: YouTubeHttp,
        *,
        account: str,
        live_chat_id: str,
        health: ConnectorHealth,
        echo: EchoTracker,
        min_interval_s: float = 1.0,
        max_results: int = 500,
        policy: ReconnectPolicy | None = None,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self.key = f"youtube:live:{live_chat_id}"
        self._http = http
        self._account = account
        self._chat = live_chat_id
        self._health = health
        self._echo = echo
        self._min_interval = min_interval_s
        self._max_results = max_results
        self._policy = policy or ReconnectPolicy(initial_s=1.0, max_s=120.0)
        self._sleep = sleep
        self._origin = Origin(PLATFORM, account, "live", live_chat_id)
        http.budget.register_poller()

    def stream(self, cursor: str | None) -> AsyncIterator[SourceItem]:
        # Per stream (kept across its reconnects): a new stream resumes from the stored cursor and
        # must not drop what an earlier stream saw but never got committed (lease lost, batch refused).
        seen = RecentIds(50_000)
        return reconnecting(lambda at: self._session(at, seen), cursor, policy=self._policy, health=self._health, name=self.key)

    async def _fetch(self, token: str) -> bytes:
        cost = COSTS["liveChatMessages.list"]
        budget = self._http.budget
        if not budget.can_spend(cost, reserve=True):
            raise RateLimited("youtube: daily quota budget spent", retry_after=budget.seconds_until_reset())
        params = {"liveChatId": self._chat, "part": "id,snippet,authorDetails", "maxResults": str(self._max_results)}
        if token:
            params["pageToken"] = token
        return await self._http.call("GET", "/liveChat/messages", cost=cost, params=params)

    async def _session(self, cursor: str | None, seen: RecentIds) -> AsyncIterator[SourceItem]:
        token, _, after_id = (cursor or "").partition("#")
        while True:
            try:
                page = parse_chat_page(await self._fetch(token))
            except PermanentError as error:
                if error.code in ENDED_REASONS:
                    yield SourceItem(LiveEnded(self._origin, f"ended:{self._chat}", time.time()), token or None)
                    return
                raise
            items = list(page.items)
            if after_id:
                ids = [item.get("id") for item in items]
                if after_id in ids:
                    items = items[ids.index(after_id) + 1 :]
                after_id = ""
            for index, item in enumerate(items):
                last = index == len(items) - 1
                position = page.next_page_token if last and page.next_page_token else f"{token}#{item.get('id', '')}"
                for out in self._events(item, seen):
                    yield SourceItem(out, position, received_at=time.time())
                    if isinstance(out, LiveEnded):
                        return
            if page.offline_at is not None:
                ended = LiveEnded(self._origin, f"offline:{self._chat}", page.offline_at)
                yield SourceItem(ended, page.next_page_token or token or None, received_at=time.time())
                return
            token = page.next_page_token or token
            delay = max(page.polling_interval_s, self._http.budget.poll_delay(self._min_interval, 5))
            await _pause(self._sleep, delay)

    def _events(self, item: dict[str, object], seen: RecentIds) -> list[ChatMessage | LiveEnded | SendEcho]:
        decoded = chat_item_event(item, account=self._account, live_chat_id=self._chat, now=time.time())
        if decoded.malformed:
            self._health.malformed_frames += 1
            return []
        if decoded.skipped:
            self._health.count(f"skipped_{decoded.skipped}")
            return []
        event = decoded.event
        if event is None:
            return []
        if not isinstance(event, ChatMessage):
            return [event] if isinstance(event, LiveEnded) else []
        if seen.seen(event.event_id):
            self._health.duplicates_dropped += 1
            return []
        is_self, key = self._echo.claim(self._chat, event.viewer.user_id, event.text)
        if not is_self:
            return [event]
        echo = SendEcho(self._origin, f"echo:{event.event_id}", event.ts, event.text, key, event.event_id)
        return [dataclasses.replace(event, is_self=True), echo]


def parse_comment_cursor(cursor: str | None) -> tuple[str, float | None]:
    if not cursor:
        return "", None
    comment_id, _, ts = cursor.rpartition("@")
    try:
        return comment_id, float(ts)
    except ValueError:
        return cursor, None


class CommentThreadSource:
    def __init__(
        self,
        http: YouTubeHttp,
        *,
        account: str,
        video_id: str,
        health: ConnectorHealth,
        interval_s: float = 60.0,
        backfill: int = 20,
        max_pages: int = 5,
        policy: ReconnectPolicy | None = None,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self.key = f"youtube:video:{video_id}"
        self._http = http
        self._account = account
        self._video = video_id
        self._health = health
        self._interval = interval_s
        self._backfill = backfill
        self._max_pages = max_pages
        self._policy = policy or ReconnectPolicy(initial_s=2.0, max_s=600.0)
        self._sleep = sleep
        http.budget.register_poller()

    def stream(self, cursor: str | None) -> AsyncIterator[SourceItem]:
        # Per stream (kept across its reconnects): a new stream resumes from the stored cursor and
        # must not drop what an earlier stream saw but never got committed (lease lost, batch refused).
        seen = RecentIds(100_000)
        return reconnecting(lambda at: self._session(at, seen), cursor, policy=self._policy, health=self._health, name=self.key)

    async def _page(self, token: str) -> bytes:
        cost = COSTS["commentThreads.list"]
        budget = self._http.budget
        if not budget.can_spend(cost, reserve=True):
            raise RateLimited("youtube: daily quota budget spent", retry_after=budget.seconds_until_reset())
        params = {"part": "snippet", "videoId": self._video, "order": "time", "maxResults": "100",
                  "textFormat": "plainText"}
        if token:
            params["pageToken"] = token
        return await self._http.call("GET", "/commentThreads", cost=cost, params=params)

    async def _session(self, cursor: str | None, seen: RecentIds) -> AsyncIterator[SourceItem]:
        last_id, last_ts = parse_comment_cursor(cursor)
        first = cursor is None
        while True:
            fresh: list[ChatMessage] = []
            newest: ChatMessage | None = None
            token, pages, reached = "", 0, False
            while not reached:
                page = parse_comment_threads(await self._page(token))
                pages += 1
                for thread in page.threads:
                    event = thread_event(thread, account=self._account, video_id=self._video, now=time.time())
                    if event is None:
                        self._health.malformed_frames += 1
                        continue
                    if event.event_id == last_id or (last_ts is not None and event.ts < last_ts):
                        reached = True
                        break
                    newest = newest or event
                    fresh.append(event)
                if first or not page.next_page_token or pages >= self._max_pages:
                    break
                token = page.next_page_token
            if first:
                fresh = fresh[: self._backfill]
                first = False
            for event in reversed(fresh):
                if seen.seen(event.event_id):
                    self._health.duplicates_dropped += 1
                    continue
                yield SourceItem(event, f"{event.event_id}@{event.ts}", received_at=time.time())
            if newest is not None:
                last_id, last_ts = newest.event_id, newest.ts
            delay = max(self._interval, self._http.budget.poll_delay(self._interval, COSTS["commentThreads.list"]))
            await _pause(self._sleep, delay)
