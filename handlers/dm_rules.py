"""May we send this person a private message now? Platform rules as a pure function.

Facts (reference/protocols.md):
- Bilibili (§1.6): error 21047 "对方主动回复或关注你前，最多发送1条消息" — until the other side
  replies or follows, at most one message. A follower (or someone who wrote to us) may get DMs;
  a stranger may get exactly one until they answer.
- Douyin Open Platform (§3.3): DMs only as answers inside a 24 h window opened by an inbound
  DM (``im_replay_msg``) or a DM-page entry (``im_enter_direct_msg``), or to users who granted
  DM authorisation (``im_authorize_message``, once per user per day, must include a card).
- Douyin web live, TikTok, YouTube: no DM API we may use.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_DM_PLATFORMS = frozenset({"douyin", "tiktok", "youtube", "kuaishou", "replay"})


@dataclass(frozen=True, slots=True)
class DmState:
    """What we know about our private-message relation with one person on one account."""

    follows_us: bool | None = None
    last_inbound_at: float | None = None  # they last wrote to us (any time)
    unanswered_sent: int = 0  # our DMs since their last inbound message
    window_until: float | None = None  # Douyin Open: reply window (DirectMessage.reply_window_until)
    authorized_until: float | None = None  # Douyin Open: DM authorisation (im_authorize) valid until


@dataclass(frozen=True, slots=True)
class DmVerdict:
    allowed: bool
    reason: str  # why (allowed: which rule permits it; refused: which rule forbids it)
    scene: str = ""  # Douyin Open scene to send with, when relevant


def dm_allowed(platform: str, dm: DmState, now: float) -> DmVerdict:
    if platform == "bilibili":
        if dm.follows_us:
            return DmVerdict(True, "bilibili: the person follows us")
        if dm.last_inbound_at is not None:
            return DmVerdict(True, "bilibili: the person wrote to us")
        if dm.unanswered_sent == 0:
            return DmVerdict(True, "bilibili: one message to a stranger is allowed (21047)")
        return DmVerdict(False, "bilibili 21047: at most one message to a stranger until they reply or follow")
    if platform == "douyin_open":
        if dm.window_until is not None and now < dm.window_until:
            return DmVerdict(True, "douyin_open: inside the 24 h reply window", scene="im_replay_msg")
        if dm.authorized_until is not None and now < dm.authorized_until:
            return DmVerdict(True, "douyin_open: the user authorised DMs", scene="im_authorize_message")
        return DmVerdict(
            False,
            "douyin_open: no DM window (needs an inbound DM or DM-page entry in the last 24 h, or DM authorisation)",
        )
    if platform == "sim":
        return DmVerdict(True, "simulator accepts DMs")
    if platform in NO_DM_PLATFORMS:
        return DmVerdict(False, f"{platform}: no private messages via the API")
    return DmVerdict(False, f"{platform}: private messages not supported")
