"""Live reminders (pure): who subscribes, and who is due a reminder before which broadcast.

- Subscribing: a lead who expressed one of ``[reminders] subscribe_intents``, or anyone who
  asked when the next live is ("明天还播吗", "下次什么时候播"): ``subscription_reason``.
- Due: ``minutes_before`` (default 10) before a broadcast starts, each subscriber gets one
  reminder; none once the broadcast started (scheduled start passed, or ``started_at`` set by
  a ``LiveStarted`` event); never twice for one broadcast — the idempotency key is
  ``reminder:{broadcast id}:{person}`` and keys in ``already_sent`` are skipped.
- Channel: ``[reminders] channels`` in order; a private message only where ``dm_allowed``
  permits it, a public reply only under a comment the person wrote.

``due_reminders(schedule, subscribers, already_sent, now, settings)`` returns the reminders to
queue; each carries its ``Touch`` and a once-per-broadcast claim for ``caps.decide``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.caps import CounterClaim, Touch
from handlers.dm_rules import DmState, dm_allowed
from handlers.events import LiveScheduled
from handlers.settings import RemindersSettings, ScheduleEntry

# "When is the next live?" questions (zh + en). Kept small and specific on purpose.
NEXT_LIVE_PATTERNS: tuple[str, ...] = (
    r"(明天|明晚|今晚|后天|下次|下回|下一场|下场|下周|周[一二三四五六日天]|几点|什么时候|啥时候|哪天|几号).{0,6}(播|直播|开播|上播)",
    r"还(会|要)?(播|直播|开播)(吗|嘛|么|不)",
    r"(开播|直播).{0,3}(提醒|通知)我",
    r"(预约|订阅).{0,3}直播",
    r"\b(next|another)\s+(live|stream|show)\b",
    r"\bwhen\b.{0,30}\b(live|stream(ing)?|on air)\b",
)
_COMPILED = tuple(re.compile(p, re.IGNORECASE) for p in NEXT_LIVE_PATTERNS)


def asks_next_live(text: str, extra_patterns: Sequence[str] = ()) -> bool:
    """True for "明天还播吗", "下次什么时候播", "when is the next stream?" ..."""
    sample = text[:500]
    if any(p.search(sample) for p in _COMPILED):
        return True
    return any(re.search(p, sample, re.IGNORECASE) for p in extra_patterns)


def subscription_reason(intents: Sequence[str], text: str, settings: RemindersSettings) -> str | None:
    """Why this message subscribes its author to reminders, or None."""
    if not settings.enabled:
        return None
    if asks_next_live(text, settings.next_live_patterns):
        return "asked when the next live is"
    for intent in intents:
        if intent in settings.subscribe_intents:
            return f"expressed intent {intent}"
    return None


@dataclass(frozen=True, slots=True)
class Broadcast:
    broadcast_id: str
    starts_at: float
    title: str = ""
    platform: str = ""  # "" = any
    account: str = ""  # "" = any
    room: str = ""
    started_at: float | None = None  # set when a LiveStarted event arrived

    def matches(self, platform: str, account: str) -> bool:
        return (not self.platform or self.platform == platform) and (not self.account or self.account == account)


def broadcasts_from_schedule(entries: Iterable[ScheduleEntry], timezone: str) -> list[Broadcast]:
    """``[[schedule]]`` entries → broadcasts; a start without offset is read in ``timezone``."""
    zone = ZoneInfo(timezone)
    out = []
    for entry in entries:
        start: datetime = entry.start if entry.start.tzinfo else entry.start.replace(tzinfo=zone)
        out.append(Broadcast(entry.broadcast_id(), start.timestamp(), entry.title, entry.platform, entry.account, entry.room))
    return out


def broadcast_from_event(event: LiveScheduled) -> Broadcast:
    o = event.origin
    return Broadcast(f"{o.platform}:{o.key}:{event.event_id}", event.starts_at, event.title, o.platform, o.account, o.key)


@dataclass(frozen=True, slots=True)
class Subscriber:
    person_key: str  # "bilibili:123"
    user_id: str
    platform: str
    account: str
    nickname: str
    subscribed_at: float
    reason: str = ""
    dm: DmState = DmState()
    comment_target: str | None = None  # a comment of theirs we may reply under (public_reply)


@dataclass(frozen=True, slots=True)
class DueReminder:
    broadcast: Broadcast
    subscriber: Subscriber
    key: str  # idempotency key: reminder:{broadcast}:{person}
    touch: Touch
    claims: tuple[CounterClaim, ...]
    why: str = ""

    @property
    def deadline(self) -> float:
        """Drop it if not sent by then (quiet hours or a busy queue held it until the start)."""
        return self.broadcast.starts_at


@dataclass(frozen=True, slots=True)
class SkippedReminder:
    broadcast: Broadcast
    subscriber: Subscriber
    reason: str


def reminder_key(broadcast: Broadcast, subscriber: Subscriber) -> str:
    return f"reminder:{broadcast.broadcast_id}:{subscriber.person_key}"


def _route(sub: Subscriber, settings: RemindersSettings, now: float) -> tuple[str, str, str] | str:
    """(channel, target, why) or the reason no channel is possible."""
    refusals = []
    for channel in settings.channels:
        if channel == "private_message":
            verdict = dm_allowed(sub.platform, sub.dm, now)
            if verdict.allowed:
                return channel, sub.user_id, verdict.reason
            refusals.append(verdict.reason)
        elif channel == "public_reply":
            if sub.comment_target:
                return channel, sub.comment_target, "reply under their comment"
            refusals.append("public_reply: no comment of theirs to reply under")
        else:
            refusals.append(f"{channel}: not usable before the broadcast starts")
    return "; ".join(refusals) or "reminders.channels is empty"


def plan_reminders(
    schedule: Sequence[Broadcast],
    subscribers: Sequence[Subscriber],
    already_sent: Collection[str],
    now: float,
    settings: RemindersSettings | None = None,
) -> tuple[list[DueReminder], list[SkippedReminder]]:
    """Reminders due at ``now`` and the subscribers skipped (with reasons). Pure."""
    settings = settings or RemindersSettings()
    due: list[DueReminder] = []
    skipped: list[SkippedReminder] = []
    if not settings.enabled:
        return due, skipped
    lead = settings.minutes_before * 60
    keep = settings.subscription_days * 86400
    for broadcast in schedule:
        if not broadcast.starts_at - lead <= now < broadcast.starts_at:
            continue
        if broadcast.started_at is not None and broadcast.started_at <= now:
            continue
        seen: set[str] = set()
        for sub in subscribers:
            if sub.person_key in seen or not broadcast.matches(sub.platform, sub.account):
                continue
            if not broadcast.starts_at - keep <= sub.subscribed_at < broadcast.starts_at:
                continue
            seen.add(sub.person_key)
            key = reminder_key(broadcast, sub)
            if key in already_sent:
                continue
            route = _route(sub, settings, now)
            if isinstance(route, str):
                skipped.append(SkippedReminder(broadcast, sub, route))
                continue
            channel, target, why = route
            touch = Touch("reminder", broadcast.broadcast_id, sub.person_key, sub.platform, sub.account, channel, target)
            once = CounterClaim(
                key=f"rem:{broadcast.broadcast_id}:{sub.person_key}",
                limit=1,
                expires_at=broadcast.starts_at + 86400,
                label="reminders.once_per_broadcast",
                refusal=f"suppressed: already reminded of {broadcast.broadcast_id}",
            )
            due.append(DueReminder(broadcast, sub, key, touch, (once,), why))
    return due, skipped


def due_reminders(
    schedule: Sequence[Broadcast],
    subscribers: Sequence[Subscriber],
    already_sent: Collection[str],
    now: float,
    settings: RemindersSettings | None = None,
) -> list[DueReminder]:
    """The reminders to queue at ``now`` (see ``plan_reminders`` for the skipped ones)."""
    return plan_reminders(schedule, subscribers, already_sent, now, settings)[0]


def minutes_until(broadcast: Broadcast, now: float) -> int:
    """Whole minutes until the start, rounded up (for the {minutes} template variable)."""
    return max(0, int(-(-(broadcast.starts_at - now) // 60)))
