"""The YouTube Data API daily quota as a budget the pollers and the caps engine can ask.

10,000 units per project per day, reset at midnight Pacific time (protocols.md §4). Costs:
``liveChatMessages.list`` 5, ``liveChatMessages.insert`` 20, ``commentThreads.list`` 1,
``comments.insert`` 50. Pollers call ``poll_delay`` to slow down so that their share of what
is left lasts until the reset — or, when that is further away, for ``horizon_s`` (a long live
session; polling a whole day evenly would mean one chat read a minute) — keeping
``reserve_units`` for replies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    PACIFIC: tzinfo = ZoneInfo("America/Los_Angeles")
except (ImportError, ZoneInfoNotFoundError):  # no tz database: UTC-8 is at most an hour off
    PACIFIC = timezone(timedelta(hours=-8))

COSTS = {
    "liveChatMessages.list": 5,
    "liveChatMessages.insert": 20,
    "commentThreads.list": 1,
    "comments.insert": 50,
}


def next_pacific_midnight(now: float) -> float:
    local = datetime.fromtimestamp(now, PACIFIC)
    tomorrow = (local + timedelta(days=1)).date()
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=PACIFIC)
    return midnight.timestamp()


class QuotaBudget:
    """Units spent today; ``can_spend``/``spend`` before each call, ``exhaust`` on quotaExceeded."""

    def __init__(
        self,
        daily_units: int = 10_000,
        *,
        reserve_units: int = 1_000,
        horizon_s: float = 4 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.daily_units = daily_units
        self.reserve_units = min(reserve_units, daily_units)
        self.horizon_s = horizon_s
        self._clock = clock
        self._used = 0
        self._resets_at = next_pacific_midnight(clock())
        self.pollers = 0

    def _roll(self, now: float) -> None:
        if now >= self._resets_at:
            self._used = 0
            self._resets_at = next_pacific_midnight(now)

    @property
    def used(self) -> int:
        self._roll(self._clock())
        return self._used

    def remaining(self) -> int:
        self._roll(self._clock())
        return max(0, self.daily_units - self._used)

    def seconds_until_reset(self) -> float:
        now = self._clock()
        self._roll(now)
        return max(0.0, self._resets_at - now)

    def can_spend(self, units: int, *, reserve: bool = False) -> bool:
        """``reserve=True`` for pollers: they may not eat into what is kept for sends."""
        floor = self.reserve_units if reserve else 0
        return self.remaining() - units >= floor

    def spend(self, units: int) -> None:
        self._roll(self._clock())
        self._used += units

    def exhaust(self) -> None:
        """The platform said quotaExceeded: believe it until midnight Pacific."""
        self._roll(self._clock())
        self._used = max(self._used, self.daily_units)

    def register_poller(self) -> None:
        self.pollers += 1

    def poll_delay(self, base_s: float, cost: int) -> float:
        """How long a poller should wait so its share of the units left lasts the horizon."""
        left = self.remaining() - self.reserve_units
        share = left / max(1, self.pollers)
        until_reset = self.seconds_until_reset()
        if share < cost:
            return max(base_s, until_reset)
        calls = share / cost
        return max(base_s, min(until_reset, self.horizon_s) / calls)
