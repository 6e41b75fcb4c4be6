"""Douyin Open structures → typed pipeline events (pure).

- ``im_receive_msg`` / ``im_enter_direct_msg`` → ``DirectMessage`` with a 24 h reply window,
  plus a ``DmWindow`` the sender needs to answer inside that window;
- ``new_follow_action`` → ``Follow``;
- ``item_comment_reply`` → ``ChatMessage`` on the video (``reply_to`` = the answered comment);
- polled comments → ``ChatMessage``.
Other events (``im_send_msg``, digg, authorize, …) decode to nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.connectors.douyin_open.codec import Comment, Webhook, as_int, as_str
from handlers.events import ChatMessage, DirectMessage, Event, Follow, Origin, Viewer

PLATFORM = "douyin_open"
DM_WINDOW_S = 24 * 3600.0
DM_EVENTS = {"im_receive_msg": "im_replay_msg", "im_enter_direct_msg": "im_enter_direct_msg"}


@dataclass(frozen=True, slots=True)
class DmWindow:
    """What ``/im/send/msg/`` needs to answer a user: valid until ``until`` (unix s)."""

    user_id: str
    msg_id: str  # the webhook's server_message_id
    conversation_id: str  # conversation_short_id
    scene: str  # im_replay_msg | im_enter_direct_msg
    until: float


def _ts_seconds(value: object, fallback: float) -> float:
    """Douyin mixes seconds and milliseconds; anything after year 2286 in seconds is ms."""
    number = as_int(value)
    if number <= 0:
        return fallback
    return number / 1000.0 if number > 10_000_000_000 else float(number)


def _fallback_id(*parts: str) -> str:
    return "h" + hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


def _nickname(content: dict[str, object], user_id: str) -> str:
    infos = content.get("user_infos")
    if isinstance(infos, list):
        for info in infos:
            if isinstance(info, dict) and as_str(info.get("open_id")) == user_id:
                return as_str(info.get("nick_name"))[:100]
    return ""


def webhook_events(
    hook: Webhook, *, account: str, msg_id: str = "", now: float
) -> tuple[list[Event], DmWindow | None]:
    """Typed events for one webhook and, for DM events, the reply window it opens."""
    content = hook.content
    if hook.event in DM_EVENTS:
        user_id = hook.from_user_id
        server_id = as_str(content.get("server_message_id"))
        conversation = as_str(content.get("conversation_short_id"))
        ts = _ts_seconds(content.get("create_time"), now)
        until = ts + DM_WINDOW_S
        text = as_str(content.get("text")) if hook.event == "im_receive_msg" else ""
        event_id = server_id or msg_id or _fallback_id(hook.event, user_id, str(ts))
        message = DirectMessage(
            origin=Origin(PLATFORM, account, "dm", conversation or user_id),
            event_id=event_id,
            viewer=Viewer(PLATFORM, user_id, _nickname(content, user_id)),
            text=text,
            ts=ts,
            conversation_id=conversation,
            reply_window_until=until if server_id else None,
            reply_scene=DM_EVENTS[hook.event] if server_id else "",
        )
        window = (
            DmWindow(user_id, server_id, conversation, DM_EVENTS[hook.event], until)
            if server_id and conversation and user_id
            else None
        )
        return [message], window
    if hook.event == "new_follow_action":
        if as_int(content.get("action_type"), 1) != 1:  # 1 = follow; anything else is not a new follower
            return [], None
        ts = _ts_seconds(content.get("action_time"), now)
        event_id = msg_id or _fallback_id(hook.event, hook.from_user_id, hook.to_user_id, str(ts))
        follow = Follow(
            origin=Origin(PLATFORM, account, "dm", hook.to_user_id),
            event_id=event_id,
            viewer=Viewer(PLATFORM, hook.from_user_id, "", is_following=True),
            ts=ts,
        )
        return [follow], None
    if hook.event == "item_comment_reply":
        item_id = as_str(content.get("reply_to_item_id"))
        ts = _ts_seconds(content.get("create_time"), now)
        user_id = as_str(content.get("comment_user_id")) or hook.from_user_id
        text = as_str(content.get("content"))
        comment_id = as_str(content.get("comment_id"))
        event_id = comment_id or msg_id or _fallback_id(hook.event, item_id, user_id, text, str(ts))
        chat = ChatMessage(
            origin=Origin(PLATFORM, account, "video", item_id),
            event_id=event_id,
            viewer=Viewer(PLATFORM, user_id, ""),
            text=text,
            ts=ts,
            reply_to=as_str(content.get("reply_to_comment_id")) or None,
        )
        return [chat], None
    return [], None


def comment_event(comment: Comment, *, account: str, item_id: str) -> ChatMessage:
    return ChatMessage(
        origin=Origin(PLATFORM, account, "video", item_id),
        event_id=comment.comment_id,
        viewer=Viewer(PLATFORM, comment.user_id, comment.nickname),
        text=comment.text,
        ts=comment.create_time,
        reply_to=comment.reply_to,
    )
