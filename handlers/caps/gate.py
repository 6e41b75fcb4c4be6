"""Decisions that need no counter: disabled types and quiet hours (pure, clock injected).

``gate(touch, settings, now)`` runs before ``plan_claims``: ``Refused`` means never send,
``Deferred(until)`` means keep the touch and try again at ``until`` (e.g. quiet hours end),
``Allowed`` means go on and claim the counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.caps.touch import Touch
from handlers.settings import CapsSettings, QuietHours


@dataclass(frozen=True, slots=True)
class Allowed:
    pass


@dataclass(frozen=True, slots=True)
class Deferred:
    until: float
    reason: str


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str


GateResult = Allowed | Deferred | Refused


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def quiet_until(quiet: QuietHours, channel: str, now: float, timezone: str) -> float | None:
    """End of the quiet period containing ``now`` for ``channel``, or None when not quiet."""
    if not quiet.enabled or channel not in quiet.channels or quiet.start == quiet.end:
        return None
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now, zone).replace(tzinfo=None)
    start, end = _clock(quiet.start), _clock(quiet.end)
    today = local.date()
    if start < end:  # e.g. 13:00-14:00, same day
        if start <= local.time() < end:
            return datetime.combine(today, end).replace(tzinfo=zone).timestamp()
        return None
    # Crosses midnight, e.g. 22:00-08:00.
    if local.time() >= start:
        return datetime.combine(today + timedelta(days=1), end).replace(tzinfo=zone).timestamp()
    if local.time() < end:
        return datetime.combine(today, end).replace(tzinfo=zone).timestamp()
    return None


def gate(touch: Touch, settings: CapsSettings, now: float) -> GateResult:
    cap = settings.cap_for(touch.kind)
    if cap is not None and not cap.enabled:
        return Refused(f"suppressed: caps.{touch.kind}.enabled=false")
    if cap is not None and cap.per_user_per_day == 0 and touch.person_key:
        return Refused(f"suppressed: {touch.kind}.per_user_per_day=0")
    until = quiet_until(settings.quiet_hours, touch.channel, now, settings.timezone)
    if until is not None:
        q = settings.quiet_hours
        return Deferred(until, f"deferred: caps.quiet_hours {q.start}-{q.end} ({touch.channel})")
    return Allowed()
