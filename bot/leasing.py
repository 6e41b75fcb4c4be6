"""Which sources this worker reads: one reader task per source whose lease it holds.

Several ``leadbot run`` workers share one database; ``storage.leases.LeaseBook`` decides who
holds which source. This keeps the reader tasks in step with that: every ``renew_every_s``
it renews, rebalances and claims, starts a reader (from the stored cursor) for every source
it gained and cancels the reader of every source it lost. Each reader start gets a new
*epoch*; items read under an older epoch are dropped before matching, so nothing read by a
reader that has since been cancelled can be written (the database fence in
``write_batch`` is the second line of defence).

When the database cannot be reached, the worker keeps reading only while its leases are
certainly still valid (last successful renewal + ``lease_s``), then stops its readers; they
restart from the stored cursor once the leases are claimed again.

*Local* sources (``bot.connectors.base.is_local``: webhooks pushed to this process) take no
lease: only this worker can read what was pushed to it. Their reader starts with the first
sync, is restarted if it fails, and keeps running through a database outage (the queue fills,
the receiver stops answering, and the platform retries its webhook later).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass

from bot.connectors.base import Source, is_local
from storage.leases import LeaseBook

log = logging.getLogger(__name__)

ReadFn = Callable[[Source, int], Awaitable[None]]


@dataclass
class LeaseOptions:
    lease_s: float = 15.0
    renew_every_s: float = 3.0
    max_sources: int = 0
    take_all: bool = False  # SQLite: one process owns every source


class SourceAssigner:
    def __init__(self, sources: Sequence[Source], leases: LeaseBook, owner: str, read: ReadFn, options: LeaseOptions) -> None:
        self.sources = {source.key: source for source in sources}
        self.local = frozenset(key for key, source in self.sources.items() if is_local(source))
        self.leased = [key for key in self.sources if key not in self.local]
        self.leases = leases
        self.owner = owner
        self.read = read
        self.options = options
        self.epochs: dict[str, int] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.reading: set[str] = set()  # sources with a live epoch (running or finished)
        self.finished: set[str] = set()
        self.all_finished = asyncio.Event()
        self.held: frozenset[str] = frozenset()
        self.workers = 0
        self.valid_until = 0.0  # monotonic time until which our leases are certainly valid
        self.sync_errors = 0
        self._stopped = False

    # ------------------------------------------------------------------ queries
    def is_current(self, key: str, epoch: int) -> bool:
        """Was this item read by the reader that currently owns the source?"""
        return key in self.reading and self.epochs.get(key) == epoch

    # ------------------------------------------------------------------ lease sync
    async def sync_once(self) -> bool:
        started = time.monotonic()
        if not self._stopped:
            for key in sorted(self.local - self.tasks.keys()):
                self._start(key)
        try:
            state = await self.leases.sync(
                self.owner,
                self.leased,
                lease_s=self.options.lease_s,
                max_sources=self.options.max_sources,
                take_all=self.options.take_all,
            )
        except Exception as error:
            self.sync_errors += 1
            leased_reading = self.reading - self.local
            if time.monotonic() >= self.valid_until and leased_reading:
                log.error("cannot renew source leases (%s); they may have expired: stopping %d reader(s)", error, len(leased_reading))
                self.lose(leased_reading)
            else:
                log.warning("cannot renew source leases: %s", error)
            return False
        if self._stopped:
            return True
        self.valid_until = started + self.options.lease_s
        self.held, self.workers = state.held, state.workers
        lost = self.reading - self.local - state.held
        if lost:
            log.warning("lease lost for %s: stopped reading it", ", ".join(sorted(lost)))
            self.lose(lost)
        for key in sorted(state.claimed | (state.held - self.reading)):
            self._start(key)
        return True

    async def run(self) -> None:
        """Renew / rebalance until cancelled."""
        while True:
            await asyncio.sleep(self.options.renew_every_s)
            await self.sync_once()

    # ------------------------------------------------------------------ readers
    def _start(self, key: str) -> None:
        old = self.tasks.pop(key, None)
        if old is not None:
            old.cancel()
        epoch = self.epochs.get(key, 0) + 1
        self.epochs[key] = epoch
        self.reading.add(key)
        self.finished.discard(key)
        task = asyncio.create_task(self._run_reader(key, epoch), name=f"read:{key}")
        self.tasks[key] = task

    async def _run_reader(self, key: str, epoch: int) -> None:
        try:
            await self.read(self.sources[key], epoch)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reader of %s stopped with an error", key)
        if self.epochs.get(key) == epoch:
            self.finished.add(key)
            self.tasks.pop(key, None)
            if self.sources and self.finished >= set(self.sources):
                self.all_finished.set()

    def lose(self, keys: Collection[str]) -> None:
        """Stop reading these sources now; what their readers queued is dropped."""
        for key in keys:
            task = self.tasks.pop(key, None)
            if task is not None:
                task.cancel()
            self.epochs[key] = self.epochs.get(key, 0) + 1
            self.reading.discard(key)
            self.finished.discard(key)
        self.held = self.held - frozenset(keys)

    async def stop(self) -> None:
        """Cancel every reader (leases are kept until ``release``: the last batch is still fenced by them)."""
        self._stopped = True
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def release(self) -> None:
        try:
            await self.leases.release(self.owner)
        except Exception as error:  # they expire by themselves
            log.warning("cannot release source leases (they expire in %.0fs): %s", self.options.lease_s, error)
