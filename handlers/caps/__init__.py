"""One caps engine for every touch (replies, greetings, reminders, ...): pure decisions.

Flow for one touch (the pipeline wires the effects):

1. ``gate(touch, caps, now)`` → ``Allowed`` | ``Deferred(until, reason)`` | ``Refused(reason)``
   (type switched off, quiet hours for private messages).
2. ``plan_claims(touch, caps, now)`` → ``list[CounterClaim]``: every counter the touch consumes
   (per person+type+subtype per day, cooldown, per-person daily total, conflicts, per room /
   per video windows, API quota units). The database applies them all-or-nothing
   (``CounterStore.try_claim``; SQL in ``handlers.caps.claims``); a refused claim becomes the
   recorded reason ``explain_refusal(claim)``.
3. Granted touches wait in a ``SendQueue`` per (account, channel): a ``TokenBucket`` with jitter
   paces them, and ``pick`` sends lead replies before greetings before reminders when the
   budget is short, dropping the stale.

``decide`` chains 1 and 2 against any ``CounterStore`` (the in-memory one in tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from handlers.caps.bucket import TokenBucket
from handlers.caps.claims import (
    FOREVER,
    UNLIMITED,
    CounterClaim,
    day_window,
    explain_refusal,
    fixed_window,
    plan_claims,
)
from handlers.caps.gate import Allowed, Deferred, GateResult, Refused, gate, quiet_until
from handlers.caps.scheduler import Dropped, PendingTouch, Pick, SendQueue, order, pick
from handlers.caps.store import AsyncCounterStore, CounterStore, MemoryCounterStore
from handlers.caps.touch import Touch
from handlers.settings import CapsSettings


@dataclass(frozen=True, slots=True)
class Granted:
    claims: tuple[CounterClaim, ...]


@dataclass(frozen=True, slots=True)
class Suppressed:
    reason: str
    claim: CounterClaim | None = None


Decision = Granted | Suppressed | Deferred


def decide(
    touch: Touch,
    settings: CapsSettings,
    now: float,
    store: CounterStore,
    extra_claims: Sequence[CounterClaim] = (),
) -> Decision:
    """Gate, plan and claim one touch. ``extra_claims`` (e.g. a greeting's once-per-period
    claim) are applied in the same all-or-nothing step."""
    verdict = gate(touch, settings, now)
    if isinstance(verdict, Refused):
        return Suppressed(verdict.reason)
    if isinstance(verdict, Deferred):
        return verdict
    claims = [*extra_claims, *plan_claims(touch, settings, now)]
    refused = store.try_claim(claims, now)
    if refused is not None:
        return Suppressed(explain_refusal(refused), refused)
    return Granted(tuple(claims))


__all__ = [
    "FOREVER",
    "UNLIMITED",
    "Allowed",
    "AsyncCounterStore",
    "CounterClaim",
    "CounterStore",
    "Decision",
    "Deferred",
    "Dropped",
    "GateResult",
    "Granted",
    "MemoryCounterStore",
    "PendingTouch",
    "Pick",
    "Refused",
    "SendQueue",
    "Suppressed",
    "TokenBucket",
    "Touch",
    "day_window",
    "decide",
    "explain_refusal",
    "fixed_window",
    "gate",
    "order",
    "pick",
    "plan_claims",
    "quiet_until",
]
