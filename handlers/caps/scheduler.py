"""Priorities when the send budget is short: lead replies, then greetings, then reminders.

``pick(pending, budget, now, settings)`` is pure: given the touches waiting for one account
and channel and how many sends the budget allows now, it returns which to send (in priority
order, oldest first within a priority), which keep waiting, and which are dropped as stale
(waited longer than ``[caps.<type>] max_wait_s``, e.g. a live-chat answer a minute late).
``SendQueue`` wraps it with a ``TokenBucket`` for a sender loop.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from handlers.caps.bucket import TokenBucket
from handlers.caps.touch import Touch
from handlers.settings import CapsSettings

DEFAULT_PRIORITY = 50


@dataclass(frozen=True, slots=True)
class PendingTouch:
    touch: Touch
    key: str  # idempotency key (stable across retries)
    created_at: float
    priority: int | None = None  # None: from [caps.<type>] priority
    deadline: float | None = None  # useless after this (a reminder: the broadcast start)

    def rank(self, settings: CapsSettings) -> tuple[int, float, str]:
        if self.priority is not None:
            return (self.priority, self.created_at, self.key)
        cap = settings.cap_for(self.touch.kind)
        return (cap.priority if cap else DEFAULT_PRIORITY, self.created_at, self.key)

    def stale_after(self, settings: CapsSettings) -> float | None:
        cap = settings.cap_for(self.touch.kind)
        limits = [t for t in (self.created_at + cap.max_wait_s if cap else None, self.deadline) if t is not None]
        return min(limits) if limits else None


@dataclass(frozen=True, slots=True)
class Dropped:
    pending: PendingTouch
    reason: str


@dataclass(frozen=True, slots=True)
class Pick:
    send: tuple[PendingTouch, ...]
    wait: tuple[PendingTouch, ...]
    dropped: tuple[Dropped, ...]


def pick(pending: Iterable[PendingTouch], budget: int, now: float, settings: CapsSettings) -> Pick:
    ordered = sorted(pending, key=lambda p: p.rank(settings))
    send: list[PendingTouch] = []
    wait: list[PendingTouch] = []
    dropped: list[Dropped] = []
    for item in ordered:
        stale = item.stale_after(settings)
        if stale is not None and now > stale:
            cap = settings.cap_for(item.touch.kind)
            if item.deadline is not None and now > item.deadline:
                dropped.append(Dropped(item, "stale: past its deadline (e.g. the broadcast already started)"))
            else:
                limit = cap.max_wait_s if cap else 0
                dropped.append(Dropped(item, f"stale: waited longer than caps.{item.touch.kind}.max_wait_s={limit:g}"))
        elif len(send) < budget:
            send.append(item)
        else:
            wait.append(item)
    return Pick(tuple(send), tuple(wait), tuple(dropped))


@dataclass
class SendQueue:
    """Touches waiting for one (account, channel), released as the token bucket allows."""

    bucket: TokenBucket
    settings: CapsSettings
    _heap: list[tuple[tuple[int, float, str], PendingTouch]] = field(default_factory=list)

    def push(self, item: PendingTouch) -> None:
        heapq.heappush(self._heap, (item.rank(self.settings), item))

    def __len__(self) -> int:
        return len(self._heap)

    def release(self, now: float) -> tuple[list[PendingTouch], list[Dropped], float | None]:
        """(send now, dropped as stale, when to look again or None if empty). Takes tokens."""
        items = [entry[1] for entry in self._heap]
        result = pick(items, 0, now, self.settings)  # drops the stale; the rest in send order
        remaining = list(result.wait)
        send: list[PendingTouch] = []
        while remaining and self.bucket.take(now):
            send.append(remaining.pop(0))
        self._heap = [(item.rank(self.settings), item) for item in remaining]
        heapq.heapify(self._heap)
        wake = self.bucket.ready_at(now) if self._heap else None
        return send, list(result.dropped), wake


def order(pending: Sequence[PendingTouch], settings: CapsSettings) -> list[PendingTouch]:
    """``pending`` in the order they would be sent."""
    return sorted(pending, key=lambda p: p.rank(settings))
