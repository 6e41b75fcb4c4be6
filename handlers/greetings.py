"""Follow greetings (pure): once per person per period, batched in live rooms, DMs where allowed.

Wiring, per ``Follow`` event:

1. ``plan_greeting(follow, greetings, now, dm)`` → ``GreetingPlan`` or ``Skipped(reason)``.
2. ``caps.decide(plan.touch, caps, now, store, extra_claims=plan.claims)`` — the person-level
   caps plus "greeted on this account within the period" (a re-follow is never greeted again).
3. ``plan.batched`` (live room): ``batcher.add(Greetee.of(follow), now)``; every emitted
   ``GreetingBatch`` is one chat message: ``caps.decide(batch.touch(), ...)`` for the room
   budget, then ``book.render("greeting_batch", "live_chat", platform, batch.context(), ...)``.
   Otherwise render ``"greeting"`` on ``plan.touch.channel`` for the one person.
   Call ``batcher.due(now)`` on a timer (``batcher.next_due_at()`` says when).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from handlers.caps import FOREVER, CounterClaim, Touch
from handlers.dm_rules import DmState, dm_allowed
from handlers.events import Follow
from handlers.settings import GreetingsSettings
from replies.render import ReplyContext


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str


@dataclass(frozen=True, slots=True)
class GreetingPlan:
    touch: Touch  # the person-level touch (scope "person" when batched)
    claims: tuple[CounterClaim, ...]  # once per person per period on this account
    batched: bool  # True: goes into the room's GreetingBatcher
    key: str  # idempotency key for a single (non-batched) greeting
    why: str = ""


def person_key(follow: Follow) -> str:
    return f"{follow.viewer.platform or follow.origin.platform}:{follow.viewer.user_id}"


def greeted_claim(follow: Follow, settings: GreetingsSettings, now: float) -> CounterClaim:
    period = "once ever" if settings.period_days == 0 else f"once per {settings.period_days} days"
    return CounterClaim(
        key=f"g:{follow.origin.platform}:{follow.origin.account}:{person_key(follow)}",
        limit=1,
        expires_at=FOREVER if settings.period_days == 0 else now + settings.period_days * 86400,
        label=f"greetings.period_days={settings.period_days}",
        refusal=f"suppressed: greetings.period_days={settings.period_days} ({period} per account; already greeted)",
    )


def plan_greeting(follow: Follow, settings: GreetingsSettings, now: float, dm: DmState | None = None) -> GreetingPlan | Skipped:
    """Decide how (and whether) to greet one new follower; caps are applied by the caller."""
    if not settings.enabled:
        return Skipped("greetings.enabled=false")
    if follow.viewer.is_anonymous:
        return Skipped("anonymous follower (the platform masked the user id)")
    origin = follow.origin
    claims = (greeted_claim(follow, settings, now),)
    who = person_key(follow)
    refusals: list[str] = []
    for channel in settings.channels:
        if channel == "live_chat":
            if origin.kind != "live":
                refusals.append("live_chat: the follow did not happen in a live room")
                continue
            touch = Touch("greeting", "follow", who, origin.platform, origin.account, "live_chat", origin.key, scope="person")
            return GreetingPlan(touch, claims, True, f"greet:{origin.platform}:{origin.account}:{who}", "batched in the room")
        if channel == "private_message":
            verdict = dm_allowed(origin.platform, replace(dm or DmState(), follows_us=True), now)
            if not verdict.allowed:
                refusals.append(verdict.reason)
                continue
            touch = Touch("greeting", "follow", who, origin.platform, origin.account, "private_message", follow.viewer.user_id)
            return GreetingPlan(touch, claims, False, f"greet:{origin.platform}:{origin.account}:{who}", verdict.reason)
        refusals.append(f"{channel}: a follow has no comment to reply to")
    return Skipped("; ".join(refusals) or "greetings.channels is empty")


@dataclass(frozen=True, slots=True)
class Greetee:
    person_key: str
    nickname: str
    event_id: str

    @classmethod
    def of(cls, follow: Follow) -> Greetee:
        return cls(person_key(follow), follow.viewer.nickname, follow.event_id)


@dataclass(frozen=True, slots=True)
class GreetingBatch:
    platform: str
    account: str
    room: str
    greetees: tuple[Greetee, ...]
    opened_at: float

    @property
    def key(self) -> str:
        """Idempotency key: the room plus the first follow's event id."""
        return f"greet-batch:{self.platform}:{self.account}:{self.room}:{self.greetees[0].event_id}"

    def touch(self) -> Touch:
        """The room-level touch of the one chat message (room budget, pacing, quota)."""
        return Touch("greeting", "batch", "", self.platform, self.account, "live_chat", self.room, scope="room")

    def context(self) -> ReplyContext:
        return ReplyContext(names=[g.nickname for g in self.greetees])


@dataclass
class GreetingBatcher:
    """Collects a live room's follows into one greeting per ``batch_window_s`` / ``batch_max_names``
    / channel length limit. ``fits(names)`` says whether a greeting naming them fits the room's
    limit (e.g. ``lambda names: book.fits("greeting_batch", "live_chat", platform,
    ReplyContext(names=names))``). Pure: time comes in as arguments."""

    platform: str
    account: str
    room: str
    settings: GreetingsSettings
    fits: Callable[[Sequence[str]], bool] = lambda names: True
    _open: list[Greetee] = field(default_factory=list)
    _opened_at: float = 0.0

    def _emit(self) -> GreetingBatch:
        batch = GreetingBatch(self.platform, self.account, self.room, tuple(self._open), self._opened_at)
        self._open = []
        return batch

    def add(self, greetee: Greetee, now: float) -> list[GreetingBatch]:
        """Add one follower; returns the batches that are complete now (0, 1 or 2)."""
        out: list[GreetingBatch] = []
        if any(g.person_key == greetee.person_key for g in self._open):
            return out
        if self._open and now - self._opened_at >= self.settings.batch_window_s:
            out.append(self._emit())
        if self._open and not self.fits([g.nickname for g in self._open] + [greetee.nickname]):
            out.append(self._emit())
        if not self._open:
            self._opened_at = now
        self._open.append(greetee)
        if len(self._open) >= self.settings.batch_max_names:
            out.append(self._emit())
        return out

    def due(self, now: float) -> list[GreetingBatch]:
        """The open batch, once it has waited ``batch_window_s``."""
        if self._open and now - self._opened_at >= self.settings.batch_window_s:
            return [self._emit()]
        return []

    def flush(self) -> list[GreetingBatch]:
        """Whatever is open (on stop or when the live ends)."""
        return [self._emit()] if self._open else []

    def next_due_at(self) -> float | None:
        return self._opened_at + self.settings.batch_window_s if self._open else None
