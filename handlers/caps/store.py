"""Where counters live: the Protocol the database implements, and an in-memory twin for tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from handlers.caps.claims import CounterClaim
from storage.cap_ledger import is_stale


class CounterStore(Protocol):
    """Applies a touch's claims all-or-nothing (semantics in ``handlers.caps.claims``)."""

    def try_claim(self, claims: Sequence[CounterClaim], now: float) -> CounterClaim | None:
        """Consume every claim, or none; return the first refused claim (None = all granted)."""
        ...


class AsyncCounterStore(Protocol):
    """The same contract for the database-backed store (one transaction per call)."""

    async def try_claim(self, claims: Sequence[CounterClaim], now: float) -> CounterClaim | None: ...


@dataclass
class _Row:
    n: int
    holder: str
    expires_at: float


class MemoryCounterStore:
    """In-memory ``CounterStore``: same semantics as the SQL upsert, for tests and shadow runs."""

    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}

    def _allowed(self, claim: CounterClaim, now: float) -> bool:
        if claim.amount > claim.limit:
            return False
        row = self.rows.get(claim.key)
        if row is None or is_stale(row.expires_at, claim, now):
            return True
        return row.n + claim.amount <= claim.limit and row.holder == claim.holder

    def try_claim(self, claims: Sequence[CounterClaim], now: float) -> CounterClaim | None:
        pending: dict[str, int] = {}
        for claim in claims:  # check everything first (claims of one touch use distinct keys)
            if not self._allowed(claim, now) or (claim.key in pending and claim.amount + pending[claim.key] > claim.limit):
                return claim
            pending[claim.key] = pending.get(claim.key, 0) + claim.amount
        for claim in claims:
            row = self.rows.get(claim.key)
            if row is None or is_stale(row.expires_at, claim, now):
                self.rows[claim.key] = _Row(claim.amount, claim.holder, claim.expires_at)
            else:
                row.n += claim.amount
        return None

    def count(self, key: str, now: float) -> int:
        row = self.rows.get(key)
        return 0 if row is None or row.expires_at <= now else row.n

    def purge(self, now: float) -> int:
        """Drop expired rows; returns how many."""
        dead = [key for key, row in self.rows.items() if row.expires_at <= now]
        for key in dead:
            del self.rows[key]
        return len(dead)
