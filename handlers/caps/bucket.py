"""Per-account, per-channel send pacing: a token bucket with jitter (pure, clock injected).

The sender asks ``ready_at(now)``; when it is ``<= now`` it may ``take(now)`` one token and
send. After each send the next send is pushed back by a further random ``[0, jitter_s)`` so sends
do not form the perfectly regular rhythm anti-spam systems look for. Randomness comes from
an injected ``random.Random`` (seed it in tests); nothing here sleeps.

The platform counts the gap between the moments it *received* two messages, and we only know
that a message was received somewhere between the start of its request and the answer. So a
sender calls ``finished(now)`` when the answer arrives: the bucket does not refill while a send
is in flight, and the next send waits a full interval from the answer. Without it a slow first
request (cold connection, busy machine) and a fast second one reach the platform closer together
than the configured interval.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from handlers.settings import RateLimit


@dataclass
class TokenBucket:
    interval_s: float
    burst: int = 1
    jitter_s: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    tokens: float = -1.0  # -1: start full
    updated_at: float | None = None
    not_before: float = 0.0  # jitter pushes the next send at least this late
    in_flight_since: float | None = None  # set by take(), cleared by finished()
    last_jitter: float = 0.0

    @classmethod
    def from_settings(cls, rate: RateLimit, rng: random.Random | None = None) -> TokenBucket:
        return cls(rate.interval_s, rate.burst, rate.jitter_s, rng or random.Random())

    def _refill(self, now: float) -> None:
        if self.tokens < 0:
            self.tokens = float(self.burst)
        elif self.updated_at is not None and now > self.updated_at:
            if self.interval_s <= 0:
                self.tokens = float(self.burst)
            else:
                self.tokens = min(float(self.burst), self.tokens + (now - self.updated_at) / self.interval_s)
        self.updated_at = now if self.updated_at is None else max(self.updated_at, now)

    def available(self, now: float) -> int:
        """Whole sends possible right now (0 while jitter holds the next one back)."""
        self._refill(now)
        return 0 if now < self.not_before else int(self.tokens + 1e-9)

    def ready_at(self, now: float) -> float:
        """Earliest time the next send may go out (``<= now`` means right away)."""
        self._refill(now)
        if self.tokens + 1e-9 >= 1:
            return max(now, self.not_before)
        return max(now + (1 - self.tokens) * self.interval_s, self.not_before)

    def take(self, now: float) -> bool:
        """Spend one token if one is available at ``now``."""
        if self.available(now) < 1:
            return False
        self.tokens -= 1
        self.last_jitter = self.rng.random() * self.jitter_s if self.jitter_s > 0 else 0.0
        self.not_before = self._next_token_at(now) + self.last_jitter
        self.in_flight_since = now
        return True

    def finished(self, now: float) -> None:
        """The send taken last got its answer at ``now``: count the interval from here.

        The time the request spent in flight is not refill time (see the module docstring), so
        the refill clock moves to ``now`` without adding tokens, and the next send is pushed to a
        full interval (plus the same jitter) after the answer.
        """
        if self.in_flight_since is None:
            return
        self.in_flight_since = None
        if self.updated_at is not None and now > self.updated_at:
            self.updated_at = now
        self.not_before = max(self.not_before, self._next_token_at(now) + self.last_jitter)

    def _next_token_at(self, now: float) -> float:
        return now if self.tokens + 1e-9 >= 1 else now + (1 - self.tokens) * self.interval_s

    def penalise(self, now: float, retry_after: float) -> None:
        """The platform said "too fast" (RateLimited): send nothing before ``now + retry_after``."""
        self._refill(now)
        self.tokens = 0.0
        self.not_before = max(self.not_before, now + retry_after)
