"""Douyin business messages → leadbot events (pure; no I/O, no clock unless given).

Mapping (protocols.md §2.4):
- ``WebcastChatMessage`` → ChatMessage; ``WebcastEmojiChatMessage`` → ChatMessage with the
  emoji's default text (e.g. "[比心]").
- ``WebcastSocialMessage`` → Follow. Share reuses this message; which field tells them apart
  is **unverified** (protocols.md §2 "uncertain"). We treat it as a share (no event) when the
  display-text key mentions "share" (TikTok's rule) or ``shareType``/``shareTarget`` is set,
  as a follow when the key mentions "follow" or ``action == 1``, and otherwise as a follow
  too (what every public client does), counting ``extra["social_unknown_action"]``.
- ``WebcastMemberMessage`` → MemberJoined.
- ``WebcastLikeMessage`` → Like(count).
- ``WebcastGiftMessage`` → Gift, once per streak: a combo gift (``gift.combo``) is emitted only
  at ``repeatEnd == 1`` with ``repeatCount`` (dycast: ``repeatCount || comboCount``). Value is
  in CNY at 1 diamond = 0.1 CNY.
- ``WebcastControlMessage`` action 3 (ended) or 4 (suspended, TikTok's enum) → LiveEnded;
  1/2 (pause/unpause) produce no event.
Everything else (room stats, rank lists, ...) is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.connectors.douyin import messages as m
from bot.connectors.douyin.frames import Message
from handlers.events import (
    ChatMessage,
    Event,
    Follow,
    Gift,
    Like,
    LiveEnded,
    MemberJoined,
    Origin,
    Viewer,
)

PLATFORM = "douyin"
LIVE_PAUSED, LIVE_UNPAUSED, LIVE_ENDED, LIVE_SUSPENDED = 1, 2, 3, 4
DIAMOND_CNY = 0.1


@dataclass(frozen=True, slots=True)
class Decoded:
    """One decoded message: the event (or None when it maps to nothing) and what it was."""

    event: Event | None
    business: m.Business | None
    note: str = ""  # why no event, or an uncertainty worth counting ("social_unknown_action")


def viewer(user: m.User) -> Viewer:
    return Viewer(
        platform=PLATFORM,
        user_id=user.uid,
        nickname=user.nickname,
        fan_level=user.fans_club_level or None,
        badge=user.fans_club_name or None,
    )


def _ts(common: m.Common, fallback_ms: int, event_time_s: int = 0) -> float:
    if common.create_time:
        return common.create_time / 1000.0
    if event_time_s:
        return float(event_time_s)
    return fallback_ms / 1000.0


def social_kind(msg: m.SocialMessage) -> tuple[str, str]:
    """("follow" | "share", note). See the module docstring: the rule is a best guess."""
    key = msg.common.display_key.lower()
    if "share" in key:
        return "share", ""
    if "follow" in key or msg.action == 1:
        return "follow", ""
    if msg.share_type or msg.share_target:
        return "share", ""
    return "follow", "social_unknown_action"


def to_event(message: Message, origin: Origin, now_ms: int) -> Decoded:
    """Decode one ``Message`` for a room. Raises ProtocolError on malformed payloads only."""
    business = m.decode_business(message.method, message.payload)
    if business is None:
        return Decoded(None, None, "ignored_method")
    event_id = str(message.msg_id or business.common.msg_id)
    common = business.common
    if isinstance(business, m.ChatMessage):
        return Decoded(
            ChatMessage(origin, event_id, viewer(business.user), business.content, _ts(common, now_ms, business.event_time)),
            business,
        )
    if isinstance(business, m.EmojiChatMessage):
        text = business.default_content or f"[emoji:{business.emoji_id}]"
        return Decoded(ChatMessage(origin, event_id, viewer(business.user), text, _ts(common, now_ms)), business)
    if isinstance(business, m.SocialMessage):
        kind, note = social_kind(business)
        if kind == "share":
            return Decoded(None, business, "share")
        return Decoded(Follow(origin, event_id, viewer(business.user), _ts(common, now_ms)), business, note)
    if isinstance(business, m.MemberMessage):
        return Decoded(MemberJoined(origin, event_id, viewer(business.user), _ts(common, now_ms)), business)
    if isinstance(business, m.LikeMessage):
        count = max(1, business.count)
        return Decoded(Like(origin, event_id, viewer(business.user), _ts(common, now_ms), count=count), business)
    if isinstance(business, m.GiftMessage):
        if business.gift.combo and business.repeat_end != 1:
            return Decoded(None, business, "gift_combo_in_progress")
        count = business.repeat_count or business.combo_count or 1
        return Decoded(
            Gift(
                origin,
                event_id,
                viewer(business.user),
                _ts(common, now_ms),
                gift_name=business.gift.name,
                count=count,
                value=round(business.gift.diamond_count * count * DIAMOND_CNY, 2),
            ),
            business,
        )
    # ControlMessage
    if business.action in (LIVE_ENDED, LIVE_SUSPENDED):
        return Decoded(LiveEnded(origin, event_id, _ts(common, now_ms)), business)
    note = {LIVE_PAUSED: "live_paused", LIVE_UNPAUSED: "live_unpaused"}.get(business.action, "control_other")
    return Decoded(None, business, note)
