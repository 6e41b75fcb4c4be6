"""The worker: source → normalise/match → decide → outbox (DB) → send.

Lifecycle is explicit (like python-telegram-bot's Application): nothing starts in the
constructor; ``run()`` opens the database, claims its share of the sources, starts one
reader per leased source, one processor and one sender per connector, and returns after a
clean shutdown.

Data flows one way through bounded queues:
- readers run only for the sources whose lease this worker holds (``bot.leasing``: several
  workers share one database); they put ``(source_key, SourceItem)`` on ``queue`` and wait
  when it is full (the backlog gauge shows it; nothing is dropped);
- the processor takes up to ``batch_size`` items (or what arrived within
  ``flush_interval_ms``), matches their text off the event loop, lets the handlers decide,
  and writes everything — messages, leads, matches, outbox actions with their caps, and the
  cursors — in one transaction, refused if a source's lease was lost meanwhile; batch N+1 is
  gathered and matched while batch N is written; if the database is unavailable it keeps
  the batch and retries, and the readers pause behind the full queue;
- senders claim due outbox actions and send them; an action is marked sent only after the
  platform accepted it, with the same idempotency key on every retry.

Besides the stream, a ticker (every ``tick_interval_s``) turns each live room's collected
follows into one batched greeting when due, and looks for due live reminders every
``reminders.check_interval_s``; both write through the same ``write_batch`` path. On stop the
open greeting batches are flushed before the outbox drains.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError, OperationalError

from bot.connectors.base import Connector, Source
from bot.faultpoints import fault_point
from bot.leasing import LeaseOptions, SourceAssigner
from bot.metrics import Metrics
from bot.outbox import SHADOW_FLAG, OutboxSender
from handlers.context import CapsPolicy, DecisionContext
from handlers.decide import Decider, window_keys_to_look_up, windows_in
from handlers.events import ChatMessage, DirectMessage, LiveEnded, SourceItem
from handlers.follows import batch_action
from handlers.greetings import Greetee, GreetingBatch, GreetingBatcher
from handlers.reminder_jobs import broadcast_of, reminder_actions, subscriber_of
from handlers.router import Router
from handlers.settings import GreetingsSettings, RemindersSettings
from keywords.api import Matcher, MatchResult
from replies.render import RecentTexts, ReplyBook, ReplyContext
from storage.db import describe_error
from storage.leases import LeaseLost
from storage.records import ActionRecord, Batch, BatchResult, BroadcastRecord
from storage.repository import Repository
from storage.retry import until_available

log = logging.getLogger(__name__)

QueueItem = tuple[str, SourceItem]
_Queued = tuple[str, SourceItem, int]  # + the reader's lease epoch
THREAD_MATCH_THRESHOLD = 64  # batches larger than this are matched in a worker thread


@dataclass
class PipelineOptions:
    batch_size: int = 500
    flush_interval_s: float = 0.05
    queue_size: int = 10_000
    shadow: bool = False
    replies_enabled: bool = True
    drain_timeout_s: float = 10.0
    poll_interval_s: float = 0.2
    max_attempts: int = 5
    claim_timeout_s: float = 60.0
    echo_timeout_s: float = 30.0
    # Stop by itself once every source ended and the outbox is drained (demo, replay, tests).
    exit_when_idle: bool = False
    # How often due greeting batches (and, every reminders.check_interval_s, reminders) are looked for.
    tick_interval_s: float = 0.5
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    leases: LeaseOptions = field(default_factory=LeaseOptions)
    # ``leadbot run`` (a process of its own): freeze what start-up allocated out of the collector.
    freeze_gc: bool = False


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped with an error", task.get_name(), exc_info=task.exception())


def _is_write_conflict(error: Exception) -> bool:
    """PostgreSQL deadlock (40P01) or serialization failure (40001): retry, the database is fine."""
    orig = getattr(error, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    return code in ("40P01", "40001")


class MatcherRef:
    """A fixed matcher. ``keywords.reload.MatcherHolder`` is the hot-reloading equivalent: both
    expose ``current``, read once per batch, so a reload takes effect between batches."""

    def __init__(self, matcher: Matcher) -> None:
        self.current = matcher


class HasCurrentMatcher(Protocol):
    @property
    def current(self) -> Matcher: ...


class Worker:
    def __init__(
        self,
        repository: Repository,
        connectors: Sequence[Connector],
        matcher: HasCurrentMatcher,
        router: Router,
        book: ReplyBook,
        caps: CapsPolicy,
        options: PipelineOptions,
        metrics: Metrics | None = None,
        store_name: str | None = None,
        greetings: GreetingsSettings | None = None,
        reminders: RemindersSettings | None = None,
        schedule: Sequence[BroadcastRecord] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repository = repository
        repository.fault_hook = fault_point
        self.connectors = list(connectors)
        self.matcher = matcher
        self.router = router
        self.book = book
        self.caps = caps
        self.recent = RecentTexts()
        self.store_name = store_name
        self.options = options
        self.metrics = metrics or Metrics()
        self.queue: asyncio.Queue[_Queued] = asyncio.Queue(maxsize=options.queue_size)
        self.assigner = SourceAssigner(
            [source for connector in self.connectors for source in connector.sources],
            repository.leases,
            options.worker_id,
            self._read,
            options.leases,
        )
        self._stop = asyncio.Event()
        self._readers_done = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.senders: list[OutboxSender] = []
        self.echo_channels: frozenset[tuple[str, str]] = frozenset()
        self._runtime_shadow = False
        self.greetings = greetings
        self.reminders = reminders
        self.schedule = list(schedule)
        self.clock = clock  # the reminder job and greeting batches read time here (tests inject one)
        self.batchers: dict[tuple[str, str, str], GreetingBatcher] = {}
        self._next_reminder_check = 0.0

    # ------------------------------------------------------------------ lifecycle
    def request_stop(self) -> None:
        """Stop reading; what was read is still processed and flushed (SIGINT/SIGTERM)."""
        self._stop.set()

    async def run(self) -> None:
        await self.repository.ensure_store()
        if self.repository.dialect == "sqlite":
            # One process owns an SQLite file: a claim left by a killed predecessor is stale now.
            await self.repository.expire_claims()
        self.senders = [
            OutboxSender(
                connector=connector,
                repository=self.repository,
                metrics=self.metrics,
                worker_id=self.options.worker_id,
                max_attempts=self.options.max_attempts,
                claim_timeout_s=self.options.claim_timeout_s,
                poll_interval_s=self.options.poll_interval_s,
                shadow=self.options.shadow,
                caps=self.caps.settings,
            )
            for connector in self.connectors
            if connector.sender is not None
        ]
        self.echo_channels = frozenset(
            (connector.platform, channel)
            for connector in self.connectors
            if connector.sender is not None
            for channel in getattr(connector.sender, "echo_channels", ())
        )
        # Load jieba's dictionary and compile the lists before the first message arrives, so
        # the first batch's latency is not the matcher's start-up time.
        current = self.matcher.current
        warm_up = getattr(current, "warm_up", None)
        await asyncio.to_thread(warm_up if warm_up is not None else lambda: current.match_many(["多少钱"]))
        # Everything alive now (jieba's dictionary, keyword automata, modules) lives as long as the
        # worker: move it out of the collector's sight, so full collections stay short and do not
        # show up as latency spikes.
        if self.options.freeze_gc:
            gc.collect()
            gc.freeze()
        await self._read_shadow_flag()  # before the first batch is decided
        for sender in self.senders:
            sender.runtime_shadow = self._runtime_shadow
        if self.schedule:
            await self.repository.upsert_broadcasts(self.schedule)
        await self._restore_greetees()
        # Claim this worker's share of the sources (all of them on SQLite) and start their readers.
        await self.assigner.sync_once()
        leasing = asyncio.create_task(self.assigner.run(), name="leases")
        processor = asyncio.create_task(self._process(), name="process")
        processor.add_done_callback(_log_crash)
        sender_tasks = [asyncio.create_task(s.run(), name=f"send:{s.connector.name}") for s in self.senders]
        for task in sender_tasks:
            task.add_done_callback(_log_crash)
        housekeeping = asyncio.create_task(self._housekeeping(), name="housekeeping")
        ticker = asyncio.create_task(self._tick_forever(), name="ticker")
        watch = getattr(self.matcher, "watch", None)
        reloader = asyncio.create_task(watch(), name="keyword-reload") if watch is not None else None
        try:
            await self._wait_until_done()
        finally:
            leasing.cancel()
            await asyncio.gather(leasing, return_exceptions=True)
            await self.assigner.stop()
            self._readers_done.set()
            await processor  # drains the queue and flushes the last batch
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            await self.flush_greetings()  # the follows collected so far are greeted (or refused) now
            await self.assigner.release()
            if self.options.exit_when_idle and not self._stop.is_set():
                await self._wait_outbox_idle()
            for sender in self.senders:
                sender.stop()
            await asyncio.wait_for(
                asyncio.gather(*sender_tasks, return_exceptions=True), timeout=self.options.drain_timeout_s + 5
            )
            housekeeping.cancel()
            if reloader is not None:
                reloader.cancel()
            await asyncio.gather(housekeeping, *([reloader] if reloader else []), return_exceptions=True)
            for connector in self.connectors:
                await connector.aclose()

    async def _wait_until_done(self) -> None:
        stop = asyncio.create_task(self._stop.wait())
        waiters: set[asyncio.Future[Any]] = {stop}
        if self.options.exit_when_idle:  # every source ended (single-worker use: demo, replay, tests)
            waiters.add(asyncio.create_task(self.assigner.all_finished.wait()))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def _wait_outbox_idle(self) -> None:
        deadline = time.monotonic() + max(self.options.drain_timeout_s, 1.0)
        accounts = self._accounts()
        while accounts and time.monotonic() < deadline and not self._stop.is_set():
            if await self.repository.count_unsent(accounts) == 0:
                return
            await asyncio.sleep(0.1)

    def _accounts(self) -> list[tuple[str, str]]:
        return [pair for sender in self.senders for pair in sender.accounts]

    # ------------------------------------------------------------------ reading
    async def _read(self, source: Source, epoch: int) -> None:
        cursor = await self._stored_cursor(source.key)
        log.info("reading %s from cursor %s", source.key, cursor)
        async for item in source.stream(cursor):
            if not item.received_at:
                item = replace(item, received_at=time.time())
            await self.queue.put((source.key, item, epoch))
            self.metrics.backlog = self.queue.qsize()
            if self._stop.is_set():
                break
            if not self.assigner.is_current(source.key, epoch):
                # Superseded (lease lost, or restarted from the stored cursor): the cancel that
                # should have stopped this reader did not land, so stop here; what it read is
                # dropped before matching and read again by the current reader.
                log.warning("%s: reader of an older lease stopped", source.key)
                return

    # ------------------------------------------------------------------ processing
    async def _read_shadow_flag(self) -> None:
        try:
            self._runtime_shadow = (await self.repository.get_flag(SHADOW_FLAG, "0")) == "1"
        except (OperationalError, DBAPIError, OSError) as error:  # keep the last known state
            log.warning("cannot read the shadow flag: %s", error)

    def shadow_now(self) -> bool:
        """Shadow mode from the command line, or switched on at runtime (``shadow`` flag).

        The senders already re-read the flags every 0.5 s (the kill switch); the pipeline reuses
        what they read instead of polling the database a second time."""
        if self.options.shadow:
            return True
        if self.senders:
            return any(sender.runtime_shadow for sender in self.senders)
        return self._runtime_shadow

    async def _stored_cursor(self, key: str) -> str | None:
        return await until_available(
            lambda: self.repository.get_cursor(key),
            lambda error, delay: log.warning("cannot read the cursor of %s, retrying in %.1fs: %s", key, delay, error),
        )

    async def _next_batch(self) -> list[QueueItem] | None:
        """The next batch (possibly empty after dropping stale items), or None once reading is over."""
        queued: list[_Queued] = []
        while not queued:
            if self._readers_done.is_set() and self.queue.empty():
                return None
            try:
                async with asyncio.timeout(0.2):  # not wait_for: it can swallow a cancel on 3.11
                    queued.append(await self.queue.get())
            except TimeoutError:
                continue
        deadline = time.monotonic() + self.options.flush_interval_s
        while len(queued) < self.options.batch_size:
            if self.queue.empty():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        queued.append(await self.queue.get())
                except TimeoutError:
                    break
            else:
                queued.append(self.queue.get_nowait())
        return self._still_ours(queued)

    def _still_ours(self, queued: list[_Queued]) -> list[QueueItem]:
        """Items read under a lease this worker has since lost are dropped: the new owner re-reads them."""
        self.metrics.backlog = self.queue.qsize()
        return [(key, item) for key, item, epoch in queued if self.assigner.is_current(key, epoch)]

    def _match(self, matcher: Matcher, items: list[QueueItem]) -> list[MatchResult | None]:
        texts: list[str] = []
        positions: list[int] = []
        for index, (_, item) in enumerate(items):
            event = item.event
            if isinstance(event, ChatMessage | DirectMessage) and not getattr(event, "is_self", False):
                texts.append(event.text)
                positions.append(index)
        results: list[MatchResult | None] = [None] * len(items)
        for position, result in zip(positions, matcher.match_many(texts), strict=True):
            results[position] = result
        return results

    def _queued_now(self, room: int) -> list[QueueItem]:
        """What is already queued, up to ``room`` items, without waiting."""
        queued: list[_Queued] = []
        while len(queued) < room and not self.queue.empty():
            queued.append(self.queue.get_nowait())
        return self._still_ours(queued)

    async def _match_timed(self, matcher: Matcher, items: list[QueueItem]) -> list[MatchResult | None]:
        started = time.perf_counter()
        if len(items) > THREAD_MATCH_THRESHOLD:
            results = await asyncio.to_thread(self._match, matcher, items)
        else:
            results = self._match(matcher, items)
        self.metrics.stage_seconds["match"] += time.perf_counter() - started
        return results

    async def _process(self) -> None:
        """Batches in order; batch N+1 is gathered and matched while batch N is being written.

        Once batch N is written, what arrived meanwhile joins batch N+1 before it is written
        (matching is cheap next to a write): under load a message then waits for at most the
        write in progress and its own, not for a third write in a batch not yet gathered."""
        writing: asyncio.Task[None] | None = None
        try:
            while True:
                items = await self._next_batch()
                if items is None:
                    return
                if not items:
                    continue
                matcher = self.matcher.current
                results = await self._match_timed(matcher, items)
                if writing is not None:
                    await writing  # decisions and writes stay in arrival order
                    late = self._queued_now(self.options.batch_size - len(items))
                    if late:
                        items = items + late
                        results = results + await self._match_timed(matcher, late)
                writing = asyncio.create_task(self._finish(matcher, items, results), name="write")
        finally:
            if writing is not None:
                await writing

    async def _finish(self, matcher: Matcher, items: list[QueueItem], results: list[MatchResult | None]) -> None:
        written = await self._decide_and_write(matcher, items, results)
        if written is None:
            return
        items, batch, result, now = written
        fault_point("after_write_batch")
        for _, item in items:
            if item.on_commit is not None:
                item.on_commit()
        if result.batched_keys:
            await self._batch_greetees(batch.actions, result.batched_keys, now)
        ended = [item.event for _, item in items if isinstance(item.event, LiveEnded)]
        if ended:
            await self._live_ended(ended, now)
        done = time.time()
        for _, item in items:
            self.metrics.observe_latency(done - (item.received_at or done))
        self.metrics.events_read += len(items)
        self.metrics.messages_read += len(batch.messages)
        self.metrics.note_arrivals(len(batch.messages), done)
        self.metrics.batches += 1
        for sender in self.senders:
            sender.wake()

    async def _decide_and_write(
        self, matcher: Matcher, items: list[QueueItem], results: list[MatchResult | None]
    ) -> tuple[list[QueueItem], Batch, BatchResult, float] | None:
        """Decide and write; if a source's lease was lost meanwhile, drop its items and decide again."""
        while items:
            now = time.time()
            dm_windows = await self._dm_windows(items, now)
            context = DecisionContext(
                now=now,
                shadow=self.shadow_now(),
                book=self.book,
                caps=self.caps,
                recent=self.recent,
                catalogue=getattr(matcher, "catalogue", None),
                echo_channels=self.echo_channels,
                replies_enabled=self.options.replies_enabled,
                store_name=self.store_name,
                greetings=self.greetings,
                reminders=self.reminders,
                dm_windows=dm_windows,
            )
            started = time.perf_counter()
            batch = Decider(self.router, matcher.version).decide(items, results, context)
            decided = time.perf_counter()
            self.metrics.stage_seconds["decide"] += decided - started
            fault_point("mid_batch")
            try:
                result = await self._write(batch)
                self.metrics.stage_seconds["write"] += time.perf_counter() - decided
            except LeaseLost as lost:
                log.warning("%s: not written, the new owner reads it again from the stored cursor", lost)
                self.assigner.lose(lost.keys)
                kept = [index for index, (key, _) in enumerate(items) if key not in lost.keys]
                items, results = [items[i] for i in kept], [results[i] for i in kept]
                continue
            return items, batch, result, now
        return None

    async def _dm_windows(self, items: list[QueueItem], now: float) -> dict[tuple[str, str, str], float]:
        """Open DM reply windows of this batch's followers (stored, or opened in this batch)."""
        keys = window_keys_to_look_up(items) if self.greetings is not None else []
        if not keys:
            return {}
        stored = await until_available(
            lambda: self.repository.open_dm_windows(keys, now),
            lambda error, delay: log.warning("cannot read DM windows, retrying in %.1fs: %s", delay, error),
        )
        for key, until in windows_in(items).items():
            stored[key] = max(stored.get(key, 0.0), until)
        return stored

    async def _write(self, batch: Batch) -> BatchResult:
        delay = 0.2
        while True:
            try:
                result = await self.repository.write_batch(
                    batch, lease_owner=self.options.worker_id, unleased=self.assigner.local
                )
            except (OperationalError, DBAPIError, OSError) as error:
                if _is_write_conflict(error):  # deadlock / serialization failure between workers: just retry
                    self.metrics.db_conflicts += 1
                    log.info("write conflict with another worker, retrying: %s", str(error).splitlines()[0])
                    await asyncio.sleep(0.01)
                    continue
                self.metrics.db_errors += 1
                if self.metrics.db_available:
                    log.error("database unavailable: pausing; the queue fills and the readers wait, nothing is dropped")
                self.metrics.db_available = False
                log.error(
                    "database unavailable: %s; keeping %d events, retrying in %.1fs",
                    describe_error(error, str(self.repository.engine.url)),
                    len(batch),
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if not self.metrics.db_available:
                log.warning("database available again: resuming")
            self.metrics.db_available = True
            self.metrics.duplicates += result.duplicate_messages
            self.metrics.leads_new += result.new_leads
            self.metrics.note_leads(result.new_leads)
            for status, count in result.actions_by_status.items():
                self.metrics.decided[status] += count
            for reason, count in result.suppressed_by_reason.items():
                self.metrics.suppressed[reason] += count
            return result

    # ------------------------------------------------------------------ greetings & reminders
    def _batcher(self, platform: str, account: str, room: str) -> GreetingBatcher:
        key = (platform, account, room)
        batcher = self.batchers.get(key)
        if batcher is None:
            assert self.greetings is not None
            book = self.book
            batcher = GreetingBatcher(
                platform,
                account,
                room,
                self.greetings,
                fits=lambda names: book.fits("greeting_batch", "live_chat", platform, ReplyContext(names=names)),
            )
            self.batchers[key] = batcher
        return batcher

    async def _batch_greetees(self, actions: Sequence[ActionRecord], granted: Sequence[str], now: float) -> None:
        """Followers whose own claims were granted join their room's open greeting batch."""
        wanted = set(granted)
        complete: list[GreetingBatch] = []
        for action in actions:
            if action.idempotency_key in wanted and action.person is not None:
                greetee = Greetee(action.person.key, action.person.nickname, action.idempotency_key)
                complete += self._batcher(action.platform, action.account, action.target).add(greetee, now)
        await self._write_greeting_batches(complete, now)

    async def _restore_greetees(self) -> None:
        """Follows granted by a previous run that stopped before greeting them."""
        if self.greetings is None:
            return
        complete: list[GreetingBatch] = []
        for row in await self.repository.batched_greetings(self._accounts()):
            greetee = Greetee(f"{row['person_platform']}:{row['platform_user_id']}", row["nickname"], row["idempotency_key"])
            batcher = self._batcher(row["platform"], row["account"], row["target"])
            complete += batcher.add(greetee, float(row["created_at"]))
        await self._write_greeting_batches(complete, self.clock())

    async def _write_greeting_batches(self, batches: Sequence[GreetingBatch], now: float) -> None:
        if not batches:
            return
        actions = [
            batch_action(
                batch,
                [g.event_id for g in batch.greetees],
                book=self.book,
                caps=self.caps,
                now=now,
                shadow=self.options.shadow,
                recent=self.recent,
                echo_channels=self.echo_channels,
            )
            for batch in batches
        ]
        await self._write(Batch(actions=actions))
        for sender in self.senders:
            sender.wake()

    async def _live_ended(self, events: Sequence[LiveEnded], now: float) -> None:
        """The live is over: greet the room's collected followers now rather than after the window."""
        batches: list[GreetingBatch] = []
        for event in events:
            batcher = self.batchers.get((event.origin.platform, event.origin.account, event.origin.key))
            if batcher is not None:
                batches += batcher.flush()
        await self._write_greeting_batches(batches, now)

    async def flush_greetings(self) -> None:
        """Every open greeting batch now (stop, or a live that ended)."""
        batches = [batch for batcher in self.batchers.values() for batch in batcher.flush()]
        await self._write_greeting_batches(batches, self.clock())

    async def tick(self, now: float | None = None) -> None:
        """Due greeting batches, and due reminders when their check interval has passed."""
        now = self.clock() if now is None else now
        due = [batch for batcher in self.batchers.values() for batch in batcher.due(now)]
        await self._write_greeting_batches(due, now)
        if self.reminders is not None and self.reminders.enabled and time.monotonic() >= self._next_reminder_check:
            self._next_reminder_check = time.monotonic() + self.reminders.check_interval_s
            await self.remind(now)

    async def remind(self, now: float | None = None) -> int:
        """Queue the live reminders due at ``now``; returns how many actions were written."""
        settings = self.reminders
        if settings is None or not settings.enabled:
            return 0
        now = self.clock() if now is None else now
        horizon = now + settings.minutes_before * 60
        broadcasts = [
            broadcast_of(row)
            for row in await self.repository.list_broadcasts(after=now)
            if row["starts_at"] <= horizon and row["started_at"] is None
        ]
        if not broadcasts:
            return 0
        since = min(b.starts_at for b in broadcasts) - settings.subscription_days * 86400
        rows = await self.repository.reminder_subscribers(since=since, accounts=self._accounts())
        subscribers = [subscriber_of(row) for row in rows]
        comment_ids = {f"{row['platform']}:{row['user_id']}": row["comment_id"] for row in rows if row["comment_id"]}
        already: set[str] = set()
        for broadcast in broadcasts:
            already |= await self.repository.existing_keys(f"reminder:{broadcast.broadcast_id}:")
        actions = reminder_actions(
            broadcasts,
            subscribers,
            already,
            now,
            settings=settings,
            caps=self.caps,
            book=self.book,
            shadow=self.options.shadow,
            echo_channels=self.echo_channels,
            comment_ids=comment_ids,
            store_name=self.store_name,
        )
        if actions:
            await self._write(Batch(actions=actions))
            for sender in self.senders:
                sender.wake()
        return len(actions)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.tick_interval_s)
            try:
                await self.tick()
            except (OperationalError, DBAPIError, OSError) as error:
                log.warning("greeting/reminder tick skipped: %s", error)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, min(self.options.echo_timeout_s / 3, 30.0)))
            try:
                flagged = await self.repository.flag_undelivered(older_than=time.time() - self.options.echo_timeout_s)
                if flagged:
                    log.warning("%d sent message(s) never showed up on the platform: marked undelivered", flagged)
                expired = await self.repository.expire_overdue()
                if expired:
                    log.info("%d pending action(s) passed their deadline unsent: expired", expired)
                await self.repository.purge_expired_counters()
            except (OperationalError, DBAPIError, OSError) as error:
                log.warning("housekeeping skipped: %s", error)
