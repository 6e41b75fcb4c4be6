"""YouTube resources → typed pipeline events (pure).

- ``textMessageEvent`` → ``ChatMessage`` (``authorDetails`` → ``Viewer``);
- ``superChatEvent``/``superStickerEvent`` with a comment → ``ChatMessage`` (a paid message can
  still ask "how much");
- ``chatEndedEvent`` → ``LiveEnded``;
- ``messageDeletedEvent``, ``tombstone``, ``userBannedEvent`` → ignored;
- membership events (``newSponsorEvent``, ``memberMilestoneChatEvent``, gifting) → skipped and
  counted: a new *member* is a paying supporter, often long subscribed, not a new follower;
  mapping them to ``Follow`` would send "thanks for following" greetings that are wrong.
- comment threads → ``ChatMessage`` on the video, event id = top-level comment id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.connectors.youtube.codec import parse_time
from handlers.events import ChatMessage, Event, LiveEnded, Origin, Viewer

PLATFORM = "youtube"
IGNORED = frozenset({"messageDeletedEvent", "tombstone", "userBannedEvent", "sponsorOnlyModeStartedEvent",
                     "sponsorOnlyModeEndedEvent", "pollEvent"})


@dataclass(frozen=True, slots=True)
class Decoded:
    event: Event | None
    skipped: str = ""  # the message type when it was skipped on purpose (counted by the caller)
    malformed: bool = False


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def viewer_of(author: dict[str, Any], fallback_id: str = "") -> Viewer:
    badge = None
    if author.get("isChatOwner") is True:
        badge = "owner"
    elif author.get("isChatModerator") is True:
        badge = "moderator"
    elif author.get("isChatSponsor") is True:
        badge = "member"
    elif author.get("isVerified") is True:
        badge = "verified"
    return Viewer(
        PLATFORM,
        _str(author.get("channelId")) or fallback_id,
        _str(author.get("displayName"))[:100],
        badge=badge,
    )


def chat_item_event(item: dict[str, Any], *, account: str, live_chat_id: str, now: float) -> Decoded:
    snippet = _dict(item.get("snippet"))
    kind = _str(snippet.get("type"))
    message_id = _str(item.get("id"))
    ts = parse_time(snippet.get("publishedAt")) or now
    origin = Origin(PLATFORM, account, "live", live_chat_id)
    if kind == "chatEndedEvent":
        return Decoded(LiveEnded(origin, message_id or f"ended:{live_chat_id}", ts))
    if kind in IGNORED:
        return Decoded(None)
    if kind == "textMessageEvent":
        text = _str(_dict(snippet.get("textMessageDetails")).get("messageText")) or _str(snippet.get("displayMessage"))
    elif kind == "superChatEvent":
        text = _str(_dict(snippet.get("superChatDetails")).get("userComment"))
    elif kind == "superStickerEvent":
        text = ""
    else:
        return Decoded(None, skipped=kind or "unknown")
    if not message_id:
        return Decoded(None, malformed=True)
    if not text:
        return Decoded(None, skipped=kind)
    viewer = viewer_of(_dict(item.get("authorDetails")), _str(snippet.get("authorChannelId")))
    return Decoded(ChatMessage(origin, message_id, viewer, text, ts))


def thread_event(thread: dict[str, Any], *, account: str, video_id: str, now: float) -> ChatMessage | None:
    top = _dict(_dict(thread.get("snippet")).get("topLevelComment"))
    snippet = _dict(top.get("snippet"))
    comment_id = _str(top.get("id")) or _str(thread.get("id"))
    text = _str(snippet.get("textOriginal")) or _str(snippet.get("textDisplay"))
    if not comment_id or not text:
        return None
    author_id = _str(_dict(snippet.get("authorChannelId")).get("value"))
    viewer = Viewer(PLATFORM, author_id, _str(snippet.get("authorDisplayName"))[:100])
    ts = parse_time(snippet.get("publishedAt")) or now
    return ChatMessage(Origin(PLATFORM, account, "video", video_id), comment_id, viewer, text, ts)
