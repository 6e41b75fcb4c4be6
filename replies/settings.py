"""``[replies]`` section: where templates come from and how replies are sent."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CHANNELS = ("public_reply", "live_chat", "private_message")

# Longest text per "platform.channel" (characters). "*.channel" is the fallback for any platform.
# Bilibili danmaku: 20 by default, 30 at UL>=20, reportedly 40 since late 2025 (protocols.md §1.5).
DEFAULT_MAX_CHARS: dict[str, int] = {
    "bilibili.live_chat": 20,
    "douyin.live_chat": 50,
    "youtube.live_chat": 200,
    "bilibili.public_reply": 500,
    "douyin_open.public_reply": 300,
    "youtube.public_reply": 2000,
    "bilibili.private_message": 500,
    "douyin_open.private_message": 500,
    "*.live_chat": 50,
    "*.public_reply": 300,
    "*.private_message": 500,
}
# Hard ceilings a merchant cannot raise (the platform rejects longer text).
HARD_MAX_CHARS: dict[str, int] = {"bilibili.live_chat": 40, "youtube.live_chat": 200}


class RepliesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Language of the built-in templates (replies/templates/default_<language>.toml).
    language: Literal["zh", "en"] = "zh"
    # Extra template files layered over the built-in replies/templates/*.toml.
    extra_templates: list[str] = Field(default_factory=list)
    # Longest nickname kept in a reply before it is cut (characters).
    nickname_max_chars: int = Field(default=8, ge=1, le=64)
    # Longest product name kept in a reply (characters).
    product_max_chars: int = Field(default=16, ge=2, le=100)
    # Per "platform.channel" text length limits, merged over DEFAULT_MAX_CHARS.
    max_chars: dict[str, int] = Field(default_factory=dict)

    @field_validator("max_chars")
    @classmethod
    def _check_max_chars(cls, value: dict[str, int]) -> dict[str, int]:
        for key, limit in value.items():
            platform, _, channel = key.partition(".")
            if not platform or channel not in CHANNELS:
                raise ValueError(f"{key!r}: keys look like 'bilibili.live_chat' (channel one of {', '.join(CHANNELS)})")
            if limit < 5:
                raise ValueError(f"{key} = {limit}: must be >= 5 characters")
            ceiling = HARD_MAX_CHARS.get(key)
            if ceiling is not None and limit > ceiling:
                raise ValueError(f"{key} = {limit}: the platform accepts at most {ceiling} characters")
        return value

    def limit_for(self, platform: str, channel: str) -> int:
        merged = {**DEFAULT_MAX_CHARS, **self.max_chars}
        return merged.get(f"{platform}.{channel}") or merged.get(f"*.{channel}") or 50
