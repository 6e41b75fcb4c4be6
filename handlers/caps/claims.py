"""Counter claims: the caps a touch must consume, as keys the database can enforce atomically.

``plan_claims(touch, settings, now)`` lists every counter a touch consumes. The storage layer
applies all of a touch's claims in one transaction, or none of them if any is refused, so caps
hold across restarts and workers. Semantics of one claim on a row ``(key, n, cap, holder,
expires_at)`` — the in-memory ``MemoryCounterStore`` implements exactly this:

- a row whose ``expires_at <= now`` and earlier than the claim's own ``expires_at`` counts as
  absent (it is replaced): a cooldown that ran out, an expired placeholder. A row that ends
  when the claim's period ends is that period's row, even once ``now`` is past it (a touch
  decided just before a window ended and written just after still counts against it);
- otherwise the claim succeeds iff ``n + amount <= limit`` and ``holder`` equals the row's
  holder (``""`` for plain counters); on success ``n += amount``.

In the database (``storage.cap_ledger``), inside the transaction that stores the actions: the
batch's counter rows are inserted if absent (as expired rows), loaded and locked (``FOR
UPDATE`` on PostgreSQL) in key order, every touch's claims are decided in memory in the
batch's order with exactly these semantics (and refused up front when ``amount > limit``,
which covers limit = 0 on a fresh key), and the changed rows are written back before commit.
A refused touch consumes nothing and records ``explain_refusal(claim)``.

Key shapes (``{day}`` is the date in the store timezone, quota days in the quota's timezone)::

    u:{person}:{kind}:{subtype}:d{day}        per person, type and subtype, per day
    u:{person}:total:d{day}                   per person across types, per day
    u:{person}:{kind}:cooldown                 min spacing per person and type (expires_at = now + cooldown)
    u:{person}:conflict:{a}~{b}:d{day}         holder = kind: a and b exclude each other that day
    r:{platform}:{room}:{kind}:w{secs}:{start} per live room per window (v: for videos)
    q:{platform}:{account}:d{day}              daily API quota units (amount = call cost)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.caps.touch import Touch
from handlers.settings import CapsSettings, WindowLimit
from storage.records import CounterClaim

UNLIMITED = 2**31 - 1
FOREVER = 253402300799.0  # 9999-12-31T23:59:59Z: "never expires" in a float column


def explain_refusal(claim: CounterClaim) -> str:
    """The reason recorded for a suppressed touch, e.g. ``suppressed: reply.per_user_per_day=1 reached``."""
    return claim.reason


def day_window(now: float, timezone: str) -> tuple[str, float]:
    """(day label ``YYYY-MM-DD``, end of that day as unix time) in ``timezone``."""
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now, zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    end = (start + timedelta(days=1)).replace(tzinfo=zone)  # wall-clock midnight, DST-safe
    return start.strftime("%Y-%m-%d"), end.timestamp()


def fixed_window(now: float, window_s: float) -> tuple[int, float]:
    """(window start, window end) of the epoch-aligned window containing ``now``."""
    start = int(now // window_s * window_s)
    return start, start + window_s


def _window_claim(prefix: str, touch: Touch, limit: WindowLimit, now: float, what: str) -> CounterClaim:
    start, end = fixed_window(now, limit.window_s)
    label = f"{touch.kind}.{what}={limit.count}/{limit.window_s:g}s"
    return CounterClaim(
        key=f"{prefix}:{touch.platform}:{touch.target}:{touch.kind}:w{limit.window_s:g}:{start}",
        limit=limit.count,
        expires_at=end,
        label=label,
        refusal=f"suppressed: {label} reached for {touch.where} {touch.target}",
    )


def plan_claims(touch: Touch, settings: CapsSettings, now: float) -> list[CounterClaim]:
    """Every counter ``touch`` consumes at ``now``. Pure; the order is the order to apply them.

    A touch of a type without a ``[caps.<type>]`` section still counts against the person's
    daily total, conflicts, and platform quotas.
    """
    claims: list[CounterClaim] = []
    day, day_end = day_window(now, settings.timezone)
    cap = settings.cap_for(touch.kind)
    person = touch.person_key if touch.scope != "room" else ""
    if person:
        if cap is not None:
            label = f"{touch.kind}.per_user_per_day={cap.per_user_per_day}"
            claims.append(
                CounterClaim(
                    key=f"u:{person}:{touch.kind}:{touch.subtype}:d{day}",
                    limit=cap.per_user_per_day,
                    expires_at=day_end,
                    label=label,
                    refusal=f"suppressed: {label} reached ({touch.subtype} today)",
                )
            )
            if cap.cooldown_s > 0:
                label = f"{touch.kind}.cooldown_s={cap.cooldown_s:g}"
                claims.append(
                    CounterClaim(
                        key=f"u:{person}:{touch.kind}:cooldown",
                        limit=1,
                        expires_at=now + cap.cooldown_s,
                        label=label,
                        refusal=f"suppressed: {label} (this person got a {touch.kind} less than {cap.cooldown_s:g} s ago)",
                    )
                )
        label = f"caps.per_user_total_per_day={settings.per_user_total_per_day}"
        claims.append(
            CounterClaim(
                key=f"u:{person}:total:d{day}",
                limit=settings.per_user_total_per_day,
                expires_at=day_end,
                label=label,
                refusal=f"suppressed: {label} reached",
            )
        )
        for a, b in settings.conflicts:
            if touch.kind not in (a, b):
                continue
            other = b if touch.kind == a else a
            first, second = sorted((a, b))
            claims.append(
                CounterClaim(
                    key=f"u:{person}:conflict:{first}~{second}:d{day}",
                    limit=UNLIMITED,
                    expires_at=day_end,
                    label=f"caps.conflicts {first}~{second}",
                    holder=touch.kind,
                    refusal=f"suppressed: caps.conflicts {first}~{second} (this person already got a {other} today)",
                )
            )
    if touch.scope == "person":
        return claims
    if cap is not None:
        if touch.where == "room" and cap.per_room is not None:
            claims.append(_window_claim("r", touch, cap.per_room, now, "per_room"))
        if touch.where == "video" and cap.per_video is not None:
            claims.append(_window_claim("v", touch, cap.per_video, now, "per_video"))
    quota = settings.quotas.get(touch.platform)
    if quota is not None and touch.channel in quota.costs:
        qday, qend = day_window(now, quota.timezone)
        cost = quota.costs[touch.channel]
        label = f"caps.quotas.{touch.platform}.send_units={quota.send_units}"
        claims.append(
            CounterClaim(
                key=f"q:{touch.platform}:{touch.account}:d{qday}",
                limit=quota.send_units,
                expires_at=qend,
                label=label,
                amount=cost,
                refusal=f"suppressed: {label} used up for {qday} (a {touch.channel} costs {cost} units)",
            )
        )
    return claims
