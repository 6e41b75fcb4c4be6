"""``[caps]``, ``[greetings]``, ``[reminders]`` and ``[[schedule]]``: the merchant's safety limits.

Every touch a person receives counts against these, whatever strategy produced it. Settings
that could get the merchant's account muted or banned (no spacing between sends, greeting
everyone who enters a room, a per-person cap far above anything sane) are refused with a
message naming the key, unless the merchant writes ``force = true`` in that section.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

# Above these, a cap is refused unless ``force = true`` in its section.
SAFE_MAX_PER_USER_PER_DAY = 5
SAFE_MAX_TOTAL_PER_DAY = 10
SAFE_MAX_ROOM_PER_MINUTE = 30.0

ChannelName = Literal["public_reply", "live_chat", "private_message"]
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)\Z")


def _channels(*names: ChannelName) -> list[ChannelName]:
    return list(names)


def _forced(info: ValidationInfo) -> bool:
    return bool(info.data.get("force", False))


class WindowLimit(BaseModel):
    """At most ``count`` touches per ``window_s`` seconds (windows aligned to the epoch)."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=0)
    window_s: float = Field(gt=0, le=7 * 86400)


class TouchCap(BaseModel):
    """Limits for one touch type (``[caps.reply]``, ``[caps.greeting]``, ``[caps.reminder]`` ...)."""

    model_config = ConfigDict(extra="forbid")

    force: bool = False  # accept values outside the safe range in this section
    enabled: bool = True
    # At most this many touches of this type per person per subtype (e.g. per intent) per day.
    per_user_per_day: int = Field(default=1, ge=0)
    # Minimum seconds between two touches of this type to the same person (any subtype).
    cooldown_s: float = Field(default=0.0, ge=0, le=7 * 86400)
    # Per live room / per video limits, e.g. {count = 20, window_s = 60}.
    per_room: WindowLimit | None = None
    per_video: WindowLimit | None = None
    # Lower goes first when the send budget is short.
    priority: int = Field(default=50, ge=0, le=1000)
    # A pending touch not sent within this many seconds is dropped as stale.
    max_wait_s: float = Field(default=300.0, gt=0, le=7 * 86400)

    @field_validator("per_user_per_day")
    @classmethod
    def _sane_per_user(cls, value: int, info: ValidationInfo) -> int:
        if value > SAFE_MAX_PER_USER_PER_DAY and not _forced(info):
            raise ValueError(
                f"above the safe maximum of {SAFE_MAX_PER_USER_PER_DAY} per person per day "
                "(platforms mute accounts that message one person repeatedly); set force = true in this section to allow it"
            )
        return value

    @field_validator("per_room", "per_video")
    @classmethod
    def _sane_room(cls, value: WindowLimit | None, info: ValidationInfo) -> WindowLimit | None:
        if value is not None and value.count * 60.0 / value.window_s > SAFE_MAX_ROOM_PER_MINUTE and not _forced(info):
            raise ValueError(
                f"{value.count} per {value.window_s:g} s is above the safe maximum of {SAFE_MAX_ROOM_PER_MINUTE:g} per minute; "
                "set force = true in this section to allow it"
            )
        return value


# Per-type defaults; a merchant's [caps.reply] section is merged over these, key by key.
TYPE_DEFAULTS: dict[str, dict[str, object]] = {
    "reply": {
        "cooldown_s": 300.0,
        "per_room": {"count": 20, "window_s": 60.0},
        "per_video": {"count": 60, "window_s": 3600.0},
        "priority": 0,
        "max_wait_s": 120.0,
    },
    "greeting": {"per_room": {"count": 3, "window_s": 60.0}, "priority": 10, "max_wait_s": 120.0},
    "reminder": {"priority": 20, "max_wait_s": 900.0},
}


def _reply_cap() -> TouchCap:
    return TouchCap.model_validate(TYPE_DEFAULTS["reply"])


def _greeting_cap() -> TouchCap:
    return TouchCap.model_validate(TYPE_DEFAULTS["greeting"])


def _reminder_cap() -> TouchCap:
    return TouchCap.model_validate(TYPE_DEFAULTS["reminder"])


class RateLimit(BaseModel):
    """Per-account spacing of sends on one platform channel (token bucket with jitter)."""

    model_config = ConfigDict(extra="forbid")

    force: bool = False
    interval_s: float = Field(ge=0, le=3600)  # one send per interval on average
    burst: int = Field(default=1, ge=1, le=20)  # sends allowed back to back after a quiet spell
    jitter_s: float = Field(default=0.0, ge=0, le=600)  # random extra delay after each send

    @field_validator("interval_s")
    @classmethod
    def _not_zero(cls, value: float, info: ValidationInfo) -> float:
        if value <= 0 and not _forced(info):
            raise ValueError("0 s spacing means no rate limit at all; set force = true in this section to allow it")
        return value


# Platform floors (protocols.md): Bilibili danmaku ~1/s (10030/10031 too fast), Douyin live ~1/3 s.
RATE_FLOORS_S: dict[str, float] = {"bilibili.live_chat": 1.0, "douyin.live_chat": 3.0, "*.private_message": 2.0}
DEFAULT_RATES: dict[str, RateLimit] = {
    "bilibili.live_chat": RateLimit(interval_s=1.5, jitter_s=0.5),
    "douyin.live_chat": RateLimit(interval_s=3.0, jitter_s=1.0),
    "youtube.live_chat": RateLimit(interval_s=3.0, jitter_s=1.0),
    "bilibili.private_message": RateLimit(interval_s=10.0, jitter_s=3.0),
    "douyin_open.private_message": RateLimit(interval_s=5.0, jitter_s=2.0),
    "*.live_chat": RateLimit(interval_s=3.0, jitter_s=1.0),
    # The built-in simulator has no rate limit of its own: light pacing, enough to exercise the bucket.
    "sim.live_chat": RateLimit(interval_s=0.05, burst=5, jitter_s=0.02),
    "sim.public_reply": RateLimit(interval_s=0.05, burst=5, jitter_s=0.02),
    "sim.private_message": RateLimit(interval_s=0.05, burst=5, jitter_s=0.02, force=True),
    "*.public_reply": RateLimit(interval_s=10.0, burst=2, jitter_s=3.0),
    "*.private_message": RateLimit(interval_s=10.0, jitter_s=3.0),
}


class QuotaSettings(BaseModel):
    """A daily API quota in units (YouTube Data API: 10,000 per project per Pacific day)."""

    model_config = ConfigDict(extra="forbid")

    daily_units: int = Field(default=10_000, ge=1)
    # Units sends may spend per day; the rest is left to reading (liveChatMessages.list = 5 per poll).
    send_units: int = Field(default=3_000, ge=0)
    timezone: str = "America/Los_Angeles"  # YouTube's quota resets at midnight Pacific time
    # Cost per call: "list" for polling, and per sending channel.
    costs: dict[str, int] = Field(default_factory=lambda: {"list": 5, "live_chat": 20, "public_reply": 50})

    @model_validator(mode="after")
    def _send_within_daily(self) -> QuotaSettings:
        if self.send_units > self.daily_units:
            raise ValueError(f"send_units = {self.send_units} is above daily_units = {self.daily_units}")
        return self


class QuietHours(BaseModel):
    """No touches on ``channels`` between ``start`` and ``end`` (store timezone); deferred until ``end``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    start: str = "22:00"
    end: str = "08:00"
    channels: list[ChannelName] = Field(default_factory=lambda: _channels("private_message"))

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be a 24-hour time like \"22:00\"")
        return value


class CapsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = False
    # Total touches one person may receive per day across every type.
    per_user_total_per_day: int = Field(default=3, ge=0)
    reply: TouchCap = Field(default_factory=_reply_cap)
    greeting: TouchCap = Field(default_factory=_greeting_cap)
    reminder: TouchCap = Field(default_factory=_reminder_cap)
    # Further touch types (e.g. "coupon"), same keys as [caps.reply].
    types: dict[str, TouchCap] = Field(default_factory=dict)
    # Pairs of touch types that exclude each other for the day, e.g. [["greeting", "reminder"]].
    conflicts: list[tuple[str, str]] = Field(default_factory=list)
    # Day boundaries for "per day" windows are computed in this timezone.
    timezone: str = "Asia/Shanghai"
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    # Per "platform.channel" spacing of sends, merged over DEFAULT_RATES ("*.channel" = any platform).
    rates: dict[str, RateLimit] = Field(default_factory=dict)
    # Daily API quotas per platform.
    quotas: dict[str, QuotaSettings] = Field(default_factory=lambda: {"youtube": QuotaSettings()})

    @model_validator(mode="before")
    @classmethod
    def _merge_type_defaults(cls, data: object) -> object:
        if isinstance(data, dict):
            data = dict(data)
            for kind, defaults in TYPE_DEFAULTS.items():
                given = data.get(kind)
                if isinstance(given, dict):
                    data[kind] = {**defaults, **given}
        return data

    @field_validator("per_user_total_per_day")
    @classmethod
    def _sane_total(cls, value: int, info: ValidationInfo) -> int:
        if value > SAFE_MAX_TOTAL_PER_DAY and not _forced(info):
            raise ValueError(
                f"above the safe maximum of {SAFE_MAX_TOTAL_PER_DAY} touches per person per day; "
                "set force = true in [caps] to allow it"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown timezone; use an IANA name like \"Asia/Shanghai\"") from None
        return value

    @field_validator("conflicts")
    @classmethod
    def _pairs(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for a, b in value:
            if a == b:
                raise ValueError(f"[{a!r}, {b!r}]: a type cannot conflict with itself")
        return value

    @field_validator("rates")
    @classmethod
    def _rate_floors(cls, value: dict[str, RateLimit]) -> dict[str, RateLimit]:
        for key, rate in value.items():
            platform, _, channel = key.partition(".")
            if not platform or channel not in ("public_reply", "live_chat", "private_message"):
                raise ValueError(f"{key!r}: keys look like \"bilibili.live_chat\"")
            floor = RATE_FLOORS_S.get(key) or RATE_FLOORS_S.get(f"*.{channel}")
            if floor is not None and rate.interval_s < floor and not rate.force:
                raise ValueError(
                    f"{key}.interval_s = {rate.interval_s:g}: faster than the platform tolerates "
                    f"(at least {floor:g} s between sends); set force = true in [caps.rates.\"{key}\"] to allow it"
                )
        return value

    def cap_for(self, kind: str) -> TouchCap | None:
        if kind in ("reply", "greeting", "reminder"):
            cap: TouchCap = getattr(self, kind)
            return cap
        return self.types.get(kind)

    def rate_for(self, platform: str, channel: str) -> RateLimit:
        merged = {**DEFAULT_RATES, **self.rates}
        return merged.get(f"{platform}.{channel}") or merged.get(f"*.{channel}") or RateLimit(interval_s=10.0)


class GreetingsSettings(BaseModel):
    """``[greetings]``: thanking new followers."""

    model_config = ConfigDict(extra="forbid")

    force: bool = False
    enabled: bool = True
    # Greet a person at most once per this many days per account; 0 = once ever.
    period_days: int = Field(default=0, ge=0, le=3650)
    # Channels to greet on, in order of preference.
    channels: list[ChannelName] = Field(default_factory=lambda: _channels("live_chat"))
    # Live-room batching: one chat message for several follows.
    batch_window_s: float = Field(default=5.0, gt=0, le=300)
    batch_max_names: int = Field(default=5, ge=1, le=50)
    # Greeting everyone who *enters* a room floods the chat and gets the account muted.
    on_member_join: bool = False

    @field_validator("on_member_join")
    @classmethod
    def _no_join_greeting(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not _forced(info):
            raise ValueError(
                "greeting on every room entry fires for every viewer and floods the chat; "
                "set force = true in [greetings] to allow it"
            )
        return value


class RemindersSettings(BaseModel):
    """``[reminders]``: tell interested viewers shortly before the next broadcast."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    minutes_before: int = Field(default=10, ge=1, le=24 * 60)
    # Who subscribes: people who expressed one of these intents, or asked when the next live is.
    subscribe_intents: list[str] = Field(default_factory=lambda: ["price", "link", "stock", "spec", "shipping", "want"])
    # A subscription is kept this many days.
    subscription_days: int = Field(default=7, ge=1, le=365)
    # Channels to remind on, in order of preference.
    channels: list[ChannelName] = Field(default_factory=lambda: _channels("private_message", "public_reply"))
    # Extra regular expressions for "when is the next live?" questions.
    next_live_patterns: list[str] = Field(default_factory=list)
    # How often the worker looks for reminders that are due.
    check_interval_s: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("next_live_patterns")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"{pattern!r}: not a valid regular expression ({error})") from None
        return value


class ScheduleEntry(BaseModel):
    """One ``[[schedule]]`` entry: an upcoming broadcast.

    ``start`` is a TOML datetime; without an offset it is read in ``[caps] timezone``.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default="", max_length=100)  # stable id; default derived from start time
    start: datetime
    title: str = Field(default="", max_length=100)
    platform: str = ""  # "" = every platform / account
    account: str = ""
    room: str = ""

    def broadcast_id(self) -> str:
        return self.id or f"live-{self.start.strftime('%Y%m%dT%H%M')}"
