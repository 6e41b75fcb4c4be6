"""Typed events that travel through the pipeline.

Connectors turn platform bytes into these small frozen dataclasses; everything after
the connector (matching, handlers, caps, storage) only ever sees these types. They live
in ``handlers`` (not ``bot``) because handlers react to them and must not import ``bot``.

Every event carries:
- ``origin``: where it happened (platform, our account, live room or video),
- ``event_id``: the platform's own id for it, unique per platform (used to de-duplicate
  reconnect replays and restarts),
- ``ts``: when the platform says it happened (unix seconds, float).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

OriginKind = Literal["live", "video", "dm"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an event happened: one live room, one video's comments, or a DM inbox."""

    platform: str  # "bilibili" | "douyin" | "douyin_open" | "youtube" | "sim" | "replay"
    account: str  # our account key (the merchant's account the source runs for)
    kind: OriginKind
    key: str  # room id / video id / conversation id, as the platform spells it

    @property
    def label(self) -> str:
        return f"{self.platform}:{self.kind}:{self.key}"


@dataclass(frozen=True, slots=True)
class Viewer:
    """A person on a platform, with the fan-portrait fields the platform happens to give."""

    platform: str
    user_id: str  # stable platform id; "" when the platform masks it (e.g. Bilibili logged-out)
    nickname: str
    fan_level: int | None = None
    badge: str | None = None
    region: str | None = None
    is_following: bool | None = None

    @property
    def is_anonymous(self) -> bool:
        return not self.user_id or self.user_id == "0"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A live danmaku or a video comment: the only event that can carry purchase intent."""

    origin: Origin
    event_id: str
    viewer: Viewer
    text: str
    ts: float
    reply_to: str | None = None  # id of the comment this one answers, when the platform says
    is_self: bool = False  # our own message echoed back by the platform (never answered)


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """An inbound private message; on some platforms it opens a reply window."""

    origin: Origin
    event_id: str
    viewer: Viewer
    text: str
    ts: float
    conversation_id: str = ""
    reply_window_until: float | None = None  # unix s; None = platform imposes no window
    reply_scene: str = ""  # Douyin Open: the scene a reply inside the window is sent with


@dataclass(frozen=True, slots=True)
class Follow:
    """A viewer followed the account (live room or account-level follow notification)."""

    origin: Origin
    event_id: str
    viewer: Viewer
    ts: float


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """A viewer entered a live room (counted, never greeted by default)."""

    origin: Origin
    event_id: str
    viewer: Viewer
    ts: float


@dataclass(frozen=True, slots=True)
class Like:
    origin: Origin
    event_id: str
    viewer: Viewer
    ts: float
    count: int = 1


@dataclass(frozen=True, slots=True)
class Gift:
    origin: Origin
    event_id: str
    viewer: Viewer
    ts: float
    gift_name: str = ""
    count: int = 1
    value: float = 0.0  # in the platform's main currency unit (CNY / USD), 0 when unknown


@dataclass(frozen=True, slots=True)
class LiveStarted:
    origin: Origin
    event_id: str
    ts: float


@dataclass(frozen=True, slots=True)
class LiveEnded:
    origin: Origin
    event_id: str
    ts: float


@dataclass(frozen=True, slots=True)
class LiveScheduled:
    """A connector learned of an upcoming broadcast (feeds live reminders)."""

    origin: Origin
    event_id: str
    ts: float
    starts_at: float
    title: str = ""


@dataclass(frozen=True, slots=True)
class SendEcho:
    """The platform confirmed (by echoing it into the stream) that our message is visible."""

    origin: Origin
    event_id: str
    ts: float
    text: str
    idempotency_key: str | None = None
    platform_message_id: str | None = None


Event = (
    ChatMessage
    | DirectMessage
    | Follow
    | MemberJoined
    | Like
    | Gift
    | LiveStarted
    | LiveEnded
    | LiveScheduled
    | SendEcho
)


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One event plus the source position right after it.

    The pipeline commits ``cursor`` in the same transaction as the event's effects, so a
    restart resumes exactly after the last committed event. ``cursor=None`` means this
    position cannot be resumed from (e.g. a socket without history); de-duplication by
    ``event_id`` then covers reconnect replays.
    """

    event: Event
    cursor: str | None = None
    received_at: float = field(default=0.0)  # monotonic-ish wall clock when read (latency metrics)
    # Called once the event's effects are committed: a push source (webhook) answers the
    # platform only then, so a crash before the commit makes the platform deliver it again.
    on_commit: Callable[[], None] | None = field(default=None, compare=False)
