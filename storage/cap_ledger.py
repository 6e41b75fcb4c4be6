"""A batch's cap claims decided in memory over the counter rows it locked.

A claim used to be one conditional upsert each: under load that was three quarters of a
batch's statements, each several round trips to the database thread. The write transaction
now loads (and, on PostgreSQL, locks) every counter the batch touches in one go, decides each
touch's claims here — all or nothing, in the batch's order, with the semantics written down in
``handlers.caps.claims`` — and writes the changed counters back in one statement. The rows stay
locked until the transaction commits, so two workers or a restart still cannot exceed a cap;
the counters are only ever consumed inside the same transaction that stores the actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storage.records import CounterClaim


def is_stale(row_expires_at: float, claim: CounterClaim, now: float) -> bool:
    """Whether a counter row is over for this claim, so the claim starts it afresh.

    Expired by ``now`` is not enough: a room window's claim decided at 59.9 s and written at
    60.1 s carries the window's own end as ``expires_at``; treating the row as absent would
    grant every such claim (a whole batch past the cap). Only a row that ended before the
    claim's period ends (a cooldown that ran out, an expired placeholder) is replaced."""
    return row_expires_at <= now and row_expires_at < claim.expires_at


@dataclass(frozen=True, slots=True)
class CounterState:
    """One ``cap_counters`` row as the transaction sees it."""

    count: int
    cap: int
    holder: str
    expires_at: float


class ClaimLedger:
    """The counters of one transaction: loaded once, claimed in order, written back once."""

    def __init__(self, rows: dict[str, CounterState], now: float) -> None:
        self._rows = rows
        self._now = now
        self.changed: set[str] = set()

    def claim(self, claims: Sequence[CounterClaim]) -> CounterClaim | None:
        """Consume every claim or none; return the first refused claim (None = all granted).

        Per claim: a row that has expired (``expires_at <= now``) before the period the claim
        is for (``claim.expires_at``) counts as absent and is replaced; otherwise the claim needs
        ``count + amount <= limit`` and the same holder. A claim larger than its limit is refused
        even on a fresh key (limit 0). A claim decided just before its window ended and written
        just after names that window's row and still counts against it."""
        taken: dict[str, CounterState] = {}
        for claim in claims:
            if claim.amount > claim.limit:
                return claim
            current = taken.get(claim.key) or self._rows.get(claim.key)
            if current is None or is_stale(current.expires_at, claim, self._now):
                taken[claim.key] = CounterState(claim.amount, claim.limit, claim.holder, claim.expires_at)
            elif current.count + claim.amount <= claim.limit and current.holder == claim.holder:
                taken[claim.key] = CounterState(
                    current.count + claim.amount, claim.limit, current.holder, current.expires_at
                )
            else:
                return claim
        self._rows.update(taken)
        self.changed.update(taken)
        return None

    def rows_to_write(self) -> list[dict[str, Any]]:
        """The changed counters, in key order (one lock order for every worker)."""
        return [
            {
                "b_key": key,
                "b_count": self._rows[key].count,
                "b_cap": self._rows[key].cap,
                "b_holder": self._rows[key].holder,
                "b_expires_at": self._rows[key].expires_at,
            }
            for key in sorted(self.changed)
        ]
