"""Plain records handed to the repository: what to write, decided upstream.

Storage is the bottom layer, so it knows nothing of events or matchers; handlers translate
their decisions into these records, and one ``Batch`` is written in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class PersonRef:
    platform: str
    user_id: str
    nickname: str = ""
    fan_level: int | None = None
    badge: str | None = None
    region: str | None = None

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class MatchRecord:
    intent: str
    keyword: str
    rule: str
    span_start: int
    span_end: int
    matched: str
    accepted: bool
    rejected_because: str | None = None
    product: str | None = None
    link_number: int | None = None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    platform: str
    platform_msg_id: str
    person: PersonRef
    origin: str
    kind: str  # chat | dm
    text: str
    ts: float
    received_at: float
    is_self: bool = False
    primary_intent: str = "none"
    intents: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    score: float = 0.0
    matcher_version: str = ""
    matches: tuple[MatchRecord, ...] = ()

    @property
    def is_lead(self) -> bool:
        return bool(self.intents) and not self.is_self


@dataclass(frozen=True, slots=True)
class InteractionRecord:
    platform: str
    event_id: str
    kind: str  # follow | enter | like | gift | live_start | live_end | scheduled
    origin: str
    ts: float
    person: PersonRef | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CounterClaim:
    """Consume ``amount`` of counter ``key`` if that keeps it within ``limit``.

    A counter row whose ``expires_at <= now`` counts as absent (cooldowns and windows expire);
    a row with a different ``holder`` refuses (conflicting touch types). ``label`` names the
    setting that set the limit ("reply.per_user_per_day=1"); ``refusal`` is the reason recorded
    when the claim is refused. The caps engine (``handlers.caps``) plans these; the repository
    applies them atomically.
    """

    key: str
    limit: int
    expires_at: float
    label: str
    amount: int = 1
    holder: str = ""
    refusal: str = ""

    @property
    def reason(self) -> str:
        return self.refusal or f"suppressed: {self.label} reached"


@dataclass(frozen=True, slots=True)
class ActionRecord:
    kind: str  # reply | greeting | reminder
    subtype: str
    channel: str
    platform: str
    account: str
    target: str
    text: str
    idempotency_key: str
    origin: str = ""
    person: PersonRef | None = None
    source_event: tuple[str, str] | None = None  # (platform, event id) that caused it
    reply_to: str | None = None
    recipient: str | None = None
    priority: int = 0
    claims: tuple[CounterClaim, ...] = ()
    status: str = "pending"  # pending | shadow | skipped | suppressed | batched (claim-only, see below)
    reason: str = ""
    echo_expected: bool = False
    not_before: float = 0.0
    deadline: float | None = None  # never sent after this (a reminder: the broadcast start)
    # A room-level message standing for several claim-only ("batched") rows, e.g. a batched
    # greeting naming the followers whose per-person claims were granted earlier: their
    # idempotency keys. They are settled in the same transaction: "included" when this action is
    # queued, or this action's refusal reason when it is suppressed.
    settles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CursorUpdate:
    source_key: str
    cursor: str | None
    events: int


@dataclass(frozen=True, slots=True)
class EchoRecord:
    """The platform showed our message: mark the matching sent action delivered."""

    idempotency_key: str | None
    target: str
    text: str
    ts: float


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """Subscribe a person to live reminders (kept ``reminders.subscription_days``)."""

    person: PersonRef
    account: str
    reason: str
    subscribed_at: float
    video: str | None = None  # a video comment of theirs we may reply under
    comment_id: str | None = None


@dataclass(frozen=True, slots=True)
class BroadcastRecord:
    """An upcoming broadcast to remember (``starts_at`` unix s); upserted by ``broadcast_id``."""

    broadcast_id: str
    starts_at: float
    title: str = ""
    platform: str = ""
    account: str = ""
    room: str = ""
    source: str = "event"  # config | cli | event


@dataclass(frozen=True, slots=True)
class DmWindowRecord:
    """A reply window opened by an inbound private message (see ``models.DmReplyWindow``)."""

    platform: str
    account: str
    user_id: str
    msg_id: str
    conversation_id: str
    scene: str
    until: float


@dataclass
class Batch:
    messages: list[MessageRecord] = field(default_factory=list)
    interactions: list[InteractionRecord] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)
    cursors: dict[str, CursorUpdate] = field(default_factory=dict)
    echoes: list[EchoRecord] = field(default_factory=list)
    subscriptions: list[SubscriptionRecord] = field(default_factory=list)
    broadcasts: list[BroadcastRecord] = field(default_factory=list)
    dm_windows: list[DmWindowRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.messages) + len(self.interactions) + len(self.echoes)


@dataclass
class BatchResult:
    new_messages: int = 0
    duplicate_messages: int = 0
    new_interactions: int = 0
    new_leads: int = 0
    leads_touched: int = 0
    actions_by_status: dict[str, int] = field(default_factory=dict)
    suppressed_by_reason: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    new_message_ids: dict[str, int] = field(default_factory=dict)  # platform_msg_id -> db id
    # Idempotency keys of claim-only "batched" actions whose claims were granted (greetees to batch).
    batched_keys: list[str] = field(default_factory=list)
