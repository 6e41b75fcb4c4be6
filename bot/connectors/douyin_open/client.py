"""Douyin Open sources: polled video comments and the webhook receiver's event queue.

Comments are read oldest first (``sort_type=time_asc``) so a position is stable: the Source
cursor is ``"<page cursor>#<items already taken from that page>"``. A restart fetches the same
page and skips what was taken; when ``has_more`` is false the poller keeps asking the same page
for newly appended comments. Comment ids are also de-duplicated in memory.

Webhooks: ``WebhookReceiver.handle`` is an aiohttp handler (mounted by the app) that checks
``X-Douyin-Signature``, drops repeated ``Msg-Id``s, echoes ``verify_webhook`` challenges and
queues typed events for ``WebhookSource``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from bot.connectors.base import ConnectorHealth
from bot.connectors.common import RecentIds, ReconnectPolicy, hex_excerpt, reconnecting
from bot.connectors.douyin_open.api import DouyinOpenApi
from bot.connectors.douyin_open.codec import MAX_BODY_BYTES, as_int, parse_webhook, verify_webhook_signature
from bot.connectors.douyin_open.events import DmWindow, comment_event, webhook_events
from bot.connectors.douyin_open.spool import WebhookSpool
from bot.connectors.errors import ProtocolError
from handlers.events import Event, SourceItem

log = logging.getLogger(__name__)


def parse_comment_cursor(cursor: str | None) -> tuple[int, int]:
    """``"123#4"`` → (123, 4); None or junk → start of the list."""
    if not cursor:
        return 0, 0
    page, _, skip = cursor.partition("#")
    return max(0, as_int(page)), max(0, as_int(skip))


def format_comment_cursor(page: int, skip: int) -> str:
    return f"{page}#{skip}"


class CommentSource:
    """New comments on one video, by polling ``/item/comment/list/``."""

    def __init__(
        self,
        api: DouyinOpenApi,
        *,
        account: str,
        item_id: str,
        health: ConnectorHealth,
        poll_interval_s: float = 30.0,
        page_size: int = 20,
        policy: ReconnectPolicy | None = None,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self.key = f"douyin_open:video:{item_id}"
        self._api = api
        self._account = account
        self._item_id = item_id
        self._health = health
        self._interval = poll_interval_s
        self._page_size = page_size
        self._policy = policy or ReconnectPolicy(initial_s=1.0, max_s=300.0)
        self._sleep = sleep

    def stream(self, cursor: str | None) -> AsyncIterator[SourceItem]:
        # Per stream (kept across its reconnects): a new stream resumes from the stored cursor and
        # must not drop what an earlier stream saw but never got committed (lease lost, batch refused).
        seen = RecentIds(100_000)
        return reconnecting(lambda at: self._session(at, seen), cursor, policy=self._policy, health=self._health, name=self.key)

    async def _session(self, cursor: str | None, seen: RecentIds) -> AsyncIterator[SourceItem]:
        page_cursor, skip = parse_comment_cursor(cursor)
        while True:
            page = await self._api.comment_list(self._item_id, page_cursor, self._page_size)
            fresh = page.comments[skip:]
            for index, comment in enumerate(fresh, start=skip + 1):
                last = index == len(page.comments)
                position = (
                    format_comment_cursor(page.cursor, 0)
                    if last and page.has_more
                    else format_comment_cursor(page_cursor, index)
                )
                if seen.seen(comment.comment_id):
                    self._health.duplicates_dropped += 1
                    continue
                event = comment_event(comment, account=self._account, item_id=self._item_id)
                yield SourceItem(event, position, received_at=time.time())
            if page.has_more and page.cursor != page_cursor:
                page_cursor, skip = page.cursor, 0
                continue
            skip = max(skip, len(page.comments))
            result = self._sleep(self._interval)
            if asyncio.iscoroutine(result):
                await result


class DmWindows:
    """Open DM reply windows per user (from webhooks); the sender refuses outside them."""

    def __init__(self) -> None:
        self._by_user: dict[str, DmWindow] = {}
        self._by_msg: dict[str, DmWindow] = {}

    def open(self, window: DmWindow) -> None:
        current = self._by_user.get(window.user_id)
        if current is None or window.until >= current.until:
            self._by_user[window.user_id] = window
        self._by_msg[window.msg_id] = window
        if len(self._by_msg) > 100_000:
            self.prune(time.time())

    def find(self, user_id: str, msg_id: str | None, now: float) -> DmWindow | None:
        window = self._by_msg.get(msg_id) if msg_id else None
        if window is None or window.user_id != user_id:
            window = self._by_user.get(user_id)
        return window if window is not None and window.until > now else None

    def prune(self, now: float) -> None:
        self._by_user = {k: w for k, w in self._by_user.items() if w.until > now}
        self._by_msg = {k: w for k, w in self._by_msg.items() if w.until > now}


BAD_SIGNATURES = "webhook_bad_signature"


NOT_STORED = "webhook_not_stored_in_time"
SPOOLED = "webhook_spooled"
Delivery = tuple[Event, asyncio.Future[None]]  # the event, resolved once its effects are committed


class WebhookReceiver:
    """aiohttp handler for the single Douyin webhook URL.

    Douyin waits 5 s for an answer and delivers a webhook again (3 times) when it gets none or
    an error. So with ``answer_when="stored"`` (the default) the receiver answers 200 only once
    the pipeline committed the events — a crash before that loses nothing, the platform simply
    delivers again. When they are not stored within ``store_timeout_s`` (database down, queue
    full) the raw delivery is written to the ``spool`` (fsynced, see ``spool.py``) and answered
    200: it is deleted once stored, and queued again after a crash. Without a spool the answer
    is 503 and the ``Msg-Id`` is forgotten so the next delivery is taken. A delivery repeated
    while the first is still being stored gets the first one's answer.
    ``answer_when="queued"`` answers as soon as the events are queued (tests reading the
    source without a pipeline).
    """

    def __init__(
        self,
        *,
        client_secret: str,
        account: str,
        health: ConnectorHealth,
        windows: DmWindows,
        queue_size: int = 10_000,
        path: str = "/webhooks/douyin_open",
        clock: Callable[[], float] = time.time,
        answer_when: Literal["stored", "queued"] = "stored",
        store_timeout_s: float = 4.0,
        spool: WebhookSpool | None = None,
    ) -> None:
        self.path = path
        self._secret = client_secret
        self._account = account
        self._health = health
        self.windows = windows
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=queue_size)
        self._msg_ids = RecentIds(50_000)
        self._inflight: dict[str, asyncio.Future[bool]] = {}
        self._clock = clock
        self._answer_when = answer_when
        self._store_timeout_s = store_timeout_s
        self.spool = spool
        self._background: set[asyncio.Task[None]] = set()

    def add_routes(self, app: web.Application, path: str | None = None) -> None:
        app.router.add_post(path or self.path, self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.content.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=len(body))
        signature = request.headers.get("X-Douyin-Signature")
        signed = verify_webhook_signature(self._secret, body, signature)
        try:
            hook = parse_webhook(body)
        except ProtocolError as error:
            if not signed:
                return self._reject()
            self._health.malformed_frames += 1
            log.warning("douyin_open webhook: %s; body %s", error, hex_excerpt(body))
            return web.json_response({"error": "malformed body"}, status=400)
        if hook.event == "verify_webhook" and signature is None:
            # The URL check only echoes a number back; it is answered even when unsigned.
            return web.json_response({"challenge": hook.content.get("challenge")})
        if not signed:
            return self._reject()
        if hook.event == "verify_webhook":
            return web.json_response({"challenge": hook.content.get("challenge")})
        msg_id = request.headers.get("Msg-Id", "")
        inflight = self._inflight.get(msg_id) if msg_id else None
        if inflight is not None:  # delivered again while the first delivery is being stored
            self._health.duplicates_dropped += 1
            return self._answer(await asyncio.shield(inflight), duplicate=True)
        if msg_id and self._msg_ids.seen(msg_id):
            self._health.duplicates_dropped += 1
            return web.json_response({"ok": True, "duplicate": True})
        events, window = webhook_events(hook, account=self._account, msg_id=msg_id, now=self._clock())
        if window is not None:
            self.windows.open(window)
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if msg_id:
            self._inflight[msg_id] = outcome
        stored = False
        try:
            stored = await self._deliver(events, body, msg_id)
        finally:
            self._inflight.pop(msg_id, None)
            outcome.set_result(stored)
        if not stored:
            if msg_id:
                self._msg_ids.forget(msg_id)
            self._health.count(NOT_STORED)
            log.warning("douyin_open webhook %s (%s) not stored within %.0fs; answered 503 so Douyin delivers it again",
                        msg_id or "(no Msg-Id)", hook.event, self._store_timeout_s)  # fmt: skip
        else:
            self._health.last_event_at = self._clock()
        return self._answer(stored)

    async def _deliver(self, events: list[Event], body: bytes, msg_id: str) -> bool:
        """Queue the events; with ``answer_when="stored"`` also wait until they are committed (or
        kept in the spool). False: neither happened in time."""
        loop = asyncio.get_running_loop()
        committed: list[asyncio.Future[None]] = [loop.create_future() for _ in events]
        queued = 0
        try:
            async with asyncio.timeout(self._store_timeout_s):
                for event, done in zip(events, committed, strict=True):
                    await self.queue.put((event, done))
                    queued += 1
                if self._answer_when == "stored" and committed:
                    await asyncio.wait(committed)  # not gather: a timeout must not cancel them
        except TimeoutError:
            if self.spool is None:
                return False
            path = await asyncio.to_thread(self.spool.keep, body, msg_id)
            self._health.count(SPOOLED)
            log.warning("douyin_open webhook %s not stored within %.0fs: kept in %s until it is",
                        msg_id or "(no Msg-Id)", self._store_timeout_s, path)  # fmt: skip
            self._drop_when_stored(path, committed)
            if queued < len(events):
                self._run(self._enqueue(list(zip(events, committed, strict=True))[queued:]))
        return True

    async def replay_spool(self) -> int:
        """Queue the deliveries a crash left in the spool (each file dropped once stored)."""
        if self.spool is None:
            return 0
        kept = await asyncio.to_thread(self.spool.load)
        loop = asyncio.get_running_loop()
        for spooled in kept:
            try:
                events, window = webhook_events(parse_webhook(spooled.body), account=self._account,
                                                msg_id=spooled.msg_id, now=self._clock())  # fmt: skip
            except ProtocolError as error:
                log.error("webhook spool: %s no longer parses (%s); left in place", spooled.path, error)
                continue
            if window is not None:
                self.windows.open(window)
            committed: list[asyncio.Future[None]] = [loop.create_future() for _ in events]
            self._drop_when_stored(spooled.path, committed)
            await self._enqueue(list(zip(events, committed, strict=True)))
        if kept:
            log.info("webhook spool: %d kept deliveries queued again", len(kept))
        return len(kept)

    async def _enqueue(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            await self.queue.put(delivery)

    def _drop_when_stored(self, path: Path, committed: list[asyncio.Future[None]]) -> None:
        self._run(self._drop_after(path, committed))

    async def _drop_after(self, path: Path, committed: list[asyncio.Future[None]]) -> None:
        assert self.spool is not None
        if committed:
            await asyncio.wait(committed)
        await asyncio.to_thread(self.spool.drop, path)

    def _run(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    def _answer(stored: bool, *, duplicate: bool = False) -> web.Response:
        if not stored:
            return web.json_response({"error": "not stored in time; deliver again"}, status=503)
        return web.json_response({"ok": True, "duplicate": True} if duplicate else {"ok": True})

    def _reject(self) -> web.Response:
        self._health.count(BAD_SIGNATURES)
        log.warning("douyin_open webhook: bad or missing X-Douyin-Signature; rejected")
        return web.json_response({"error": "bad signature"}, status=403)


class WebhookSource:
    """Events pushed to the webhook, in arrival order; no resumable position (cursor None).

    ``local``: read by the worker whose server received the webhook, never leased (see
    ``bot.connectors.base.is_local``)."""

    local = True

    def __init__(self, receiver: WebhookReceiver, *, account: str, health: ConnectorHealth) -> None:
        self.key = f"douyin_open:webhook:{account}"
        self.receiver = receiver
        self._health = health

    async def stream(self, cursor: str | None) -> AsyncIterator[SourceItem]:
        self._health.state = "live"
        replay = asyncio.create_task(self.receiver.replay_spool())  # runs while we read the queue
        replay.add_done_callback(_log_replay_failure)
        try:
            while True:
                event, committed = await self.receiver.queue.get()
                yield SourceItem(event, None, received_at=time.time(), on_commit=partial(_resolve, committed))
        finally:
            if not replay.done():
                replay.cancel()


def _resolve(committed: asyncio.Future[None]) -> None:
    if not committed.done():  # the webhook call may have given up waiting (timeout): nothing to tell
        committed.set_result(None)


def _log_replay_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("webhook spool: kept deliveries could not be queued again", exc_info=task.exception())
