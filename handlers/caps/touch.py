"""What a touch is: one proposed contact with one person (or one room), before caps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TargetKind = Literal["room", "video", "user"]
Scope = Literal["both", "person", "room"]
_TARGET_KIND: dict[str, TargetKind] = {"live_chat": "room", "public_reply": "video", "private_message": "user"}


@dataclass(frozen=True, slots=True)
class Touch:
    """One contact the bot would like to make.

    ``kind`` is the touch *type* (reply | greeting | reminder | any type in ``[caps.types]``);
    ``subtype`` splits it further (the intent for replies, "follow" for greetings, the broadcast
    id for reminders). ``person_key`` identifies the person across the store ("bilibili:123");
    ``""`` for a room-level touch (a batched greeting) that no single person owns. ``target`` is
    where it is sent: the room id (live_chat), the video id (public_reply) or the user (DM).
    """

    kind: str
    subtype: str
    person_key: str
    platform: str
    account: str
    channel: str
    target: str
    target_kind: TargetKind | None = None  # default: derived from the channel
    # Which counters apply: "person" (per-person caps only: one name inside a batched greeting),
    # "room" (room/video windows and API quota only: the batch message itself), or "both".
    scope: Scope = "both"

    @property
    def where(self) -> TargetKind:
        return self.target_kind or _TARGET_KIND.get(self.channel, "user")
