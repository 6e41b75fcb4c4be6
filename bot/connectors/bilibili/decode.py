"""Bilibili live commands (op-5 JSON ``{"cmd": ...}``) → typed events.

Pure: a command dict and the room's ``Origin`` in, one event (or None for commands we do not
use) out. A command we use but whose shape is wrong raises ``ProtocolError``. Field layout:
/work/shared/reference/protocols.md §1.4 (blivedm + bilibili-API-collect).

- ``DANMU_MSG`` → ChatMessage (text info[1], uid info[2][0], uname info[2][1], fan medal
  info[3] → fan_level/badge, ts info[0][4] ms, id from info[0][15].extra ``id_str``)
- ``INTERACT_WORD`` / ``INTERACT_WORD_V2`` (base64 protobuf) → MemberJoined (msg_type 1) or
  Follow (2, and 4/5 special/mutual follow)
- ``LIVE`` / ``PREPARING`` → LiveStarted / LiveEnded
- ``SEND_GIFT`` → Gift, ``LIKE_INFO_V3_CLICK`` → Like
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from typing import Any

from bot.connectors import protowire
from bot.connectors.errors import ProtocolError
from handlers.events import (
    ChatMessage,
    Event,
    Follow,
    Gift,
    Like,
    LiveEnded,
    LiveStarted,
    MemberJoined,
    Origin,
    Viewer,
)

PLATFORM = "bilibili"
ENTER, FOLLOW, SHARE, SPECIAL_FOLLOW, MUTUAL_FOLLOW = 1, 2, 3, 4, 5
FOLLOW_TYPES = frozenset({FOLLOW, SPECIAL_FOLLOW, MUTUAL_FOLLOW})
GOLD_PER_CNY = 1000  # 1000 gold seeds = ¥1


def command_name(command: dict[str, Any]) -> str:
    """``DANMU_MSG:4:0:2:2:2:0`` → ``DANMU_MSG`` (suffixes after the first colon are dropped)."""
    cmd = command.get("cmd")
    if not isinstance(cmd, str):
        raise ProtocolError("command without a string 'cmd'", excerpt=_excerpt(command))
    return cmd.partition(":")[0]


def decode_command(command: dict[str, Any], origin: Origin, *, now: float) -> Event | None:
    """The event a command stands for, or None when we do not use that command."""
    decoder = _DECODERS.get(command_name(command))
    if decoder is None:
        return None
    try:
        return decoder(command, origin, now)
    except ProtocolError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as error:
        raise ProtocolError(
            f"{command_name(command)}: unexpected shape ({type(error).__name__}: {error})",
            excerpt=_excerpt(command),
        ) from None


def _excerpt(command: object) -> bytes:
    try:
        return json.dumps(command, ensure_ascii=False, default=str)[:200].encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        return repr(command)[:200].encode("utf-8", "replace")


def stable_id(*parts: object) -> str:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


def _uid(value: object) -> str:
    """Platform uid as text; 0 (logged-out viewers see everyone as uid 0) becomes ''."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ProtocolError(f"uid is {type(value).__name__}, expected a number")
    text = str(value).strip()
    return "" if text in {"", "0"} else text


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} is {type(value).__name__}, expected text")
    return value


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _medal(level: object, name: object) -> tuple[int | None, str | None]:
    lvl = _int(level)
    badge = name if isinstance(name, str) and name else None
    return (lvl if lvl > 0 or badge else None), badge


def _danmu(command: dict[str, Any], origin: Origin, now: float) -> ChatMessage:
    info = command["info"]
    if not isinstance(info, list) or len(info) < 3:
        raise ProtocolError("DANMU_MSG info is not a list of at least 3 items", excerpt=_excerpt(command))
    meta = info[0] if isinstance(info[0], list) else []
    text = _text(info[1], "DANMU_MSG text info[1]")
    user = info[2]
    if not isinstance(user, list) or len(user) < 2:
        raise ProtocolError("DANMU_MSG user info[2] is not [uid, uname, …]", excerpt=_excerpt(command))
    uid = _uid(user[0])
    nickname = _text(user[1], "DANMU_MSG uname info[2][1]")
    fan_level: int | None = None
    badge: str | None = None
    medal = info[3] if len(info) > 3 else []
    if isinstance(medal, list) and len(medal) >= 2:
        fan_level, badge = _medal(medal[0], medal[1])
    ts_ms = meta[4] if len(meta) > 4 and isinstance(meta[4], int) and not isinstance(meta[4], bool) else None
    ts = ts_ms / 1000 if ts_ms and ts_ms > 0 else now
    extra = _mode_info_extra(meta)
    dm_id = extra.get("id_str") if isinstance(extra.get("id_str"), str) and extra.get("id_str") else None
    if dm_id is None:
        rnd = meta[5] if len(meta) > 5 else ""
        dm_id = "h" + stable_id(origin.key, uid, nickname, ts_ms if ts_ms is not None else "", rnd, text)
    return ChatMessage(
        origin=origin,
        event_id=f"dm:{dm_id}",
        viewer=Viewer(platform=PLATFORM, user_id=uid, nickname=nickname, fan_level=fan_level, badge=badge),
        text=text,
        ts=float(ts),
    )


def _mode_info_extra(meta: list[Any]) -> dict[str, Any]:
    """info[0][15].extra is a JSON string (id_str, reply_mid, emots …); {} when absent or broken."""
    mode_info = meta[15] if len(meta) > 15 else None
    if not isinstance(mode_info, dict):
        return {}
    raw = mode_info.get("extra")
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        extra = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return {}
    return extra if isinstance(extra, dict) else {}


def _interaction(
    origin: Origin, *, uid: str, nickname: str, msg_type: int, ts: float, id_parts: tuple[object, ...],
    fan_level: int | None = None, badge: str | None = None,
) -> Event | None:
    viewer = Viewer(platform=PLATFORM, user_id=uid, nickname=nickname, fan_level=fan_level, badge=badge)
    event_id = f"iw:{msg_type}:{stable_id(origin.key, uid, msg_type, *id_parts)}"
    if msg_type in FOLLOW_TYPES:
        return Follow(origin=origin, event_id=event_id, viewer=viewer, ts=ts)
    if msg_type == ENTER:
        return MemberJoined(origin=origin, event_id=event_id, viewer=viewer, ts=ts)
    return None  # share (3), liked the streamer (6), future types


def _interact_word(command: dict[str, Any], origin: Origin, now: float) -> Event | None:
    data = command["data"]
    if not isinstance(data, dict):
        raise ProtocolError("INTERACT_WORD data is not an object", excerpt=_excerpt(command))
    medal = _obj(data.get("fans_medal"))
    fan_level, badge = _medal(medal.get("medal_level"), medal.get("medal_name"))
    timestamp = _int(data.get("timestamp"))
    return _interaction(
        origin,
        uid=_uid(data["uid"]),
        nickname=_text(data.get("uname", ""), "INTERACT_WORD uname"),
        msg_type=_int(data.get("msg_type")),
        ts=float(timestamp) if timestamp > 0 else now,
        id_parts=(timestamp, data.get("trigger_time", "")),
        fan_level=fan_level,
        badge=badge,
    )


def decode_interact_word_v2_pb(pb: str) -> dict[str, Any]:
    """The fields we use from INTERACT_WORD_V2 ``data.pb``: uid 1, uname 2, msg_type 5, roomid 6,
    timestamp 7 (s), timestamp_ms 8, face (22 → 2 → 2)."""
    try:
        raw = base64.b64decode(pb, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("INTERACT_WORD_V2 pb is not base64", excerpt=pb[:64].encode("utf-8", "replace")) from None
    fields = protowire.parse(raw)
    face = ""
    uinfo = fields.raw(22)
    if uinfo:
        base = protowire.parse(uinfo).raw(2)
        if base:
            face = protowire.parse(base).text(2)
    return {
        "uid": fields.num(1),
        "uname": fields.text(2),
        "msg_type": fields.num(5),
        "roomid": fields.num(6),
        "timestamp": fields.num(7),
        "timestamp_ms": fields.num(8),
        "face": face,
    }


def _interact_word_v2(command: dict[str, Any], origin: Origin, now: float) -> Event | None:
    data = command["data"]
    if not isinstance(data, dict) or not isinstance(data.get("pb"), str):
        raise ProtocolError("INTERACT_WORD_V2 without data.pb text", excerpt=_excerpt(command))
    fields = decode_interact_word_v2_pb(data["pb"])
    timestamp = fields["timestamp"]
    return _interaction(
        origin,
        uid=_uid(fields["uid"]),
        nickname=fields["uname"],
        msg_type=fields["msg_type"],
        ts=float(timestamp) if 0 < timestamp < 2**40 else now,
        id_parts=(timestamp, fields["timestamp_ms"]),
    )


def _live(command: dict[str, Any], origin: Origin, now: float) -> LiveStarted:
    live_time = _int(command.get("live_time"))
    key = command.get("live_key") or live_time or int(now)
    return LiveStarted(origin=origin, event_id=f"live:{origin.key}:{key}", ts=float(live_time) if live_time > 0 else now)


def _preparing(command: dict[str, Any], origin: Origin, now: float) -> LiveEnded:
    send_time = _int(command.get("send_time"))
    msg_id = command.get("msg_id")
    key = msg_id if isinstance(msg_id, str) and msg_id else send_time or int(now)
    return LiveEnded(origin=origin, event_id=f"end:{origin.key}:{key}", ts=send_time / 1000 if send_time > 0 else now)


def _send_gift(command: dict[str, Any], origin: Origin, now: float) -> Gift:
    data = command["data"]
    if not isinstance(data, dict):
        raise ProtocolError("SEND_GIFT data is not an object", excerpt=_excerpt(command))
    uid = _uid(data["uid"])
    medal = _obj(data.get("medal_info"))
    fan_level, badge = _medal(medal.get("medal_level"), medal.get("medal_name"))
    timestamp = _int(data.get("timestamp"))
    num = max(1, _int(data.get("num"), 1))
    total = _int(data.get("total_coin")) or _int(data.get("price")) * num
    value = total / GOLD_PER_CNY if data.get("coin_type") == "gold" else 0.0
    tid = data.get("tid") or data.get("rnd")
    gift_name = _text(data.get("giftName", ""), "SEND_GIFT giftName")
    event_id = f"gift:{tid}" if isinstance(tid, str) and tid else "gift:h" + stable_id(
        origin.key, uid, timestamp, gift_name, num
    )
    return Gift(
        origin=origin,
        event_id=event_id,
        viewer=Viewer(
            platform=PLATFORM,
            user_id=uid,
            nickname=_text(data.get("uname", ""), "SEND_GIFT uname"),
            fan_level=fan_level,
            badge=badge,
        ),
        ts=float(timestamp) if timestamp > 0 else now,
        gift_name=gift_name,
        count=num,
        value=value,
    )


def _like_click(command: dict[str, Any], origin: Origin, now: float) -> Like:
    data = command["data"]
    if not isinstance(data, dict):
        raise ProtocolError("LIKE_INFO_V3_CLICK data is not an object", excerpt=_excerpt(command))
    uid = _uid(data["uid"])
    medal = _obj(data.get("fans_medal"))
    fan_level, badge = _medal(medal.get("medal_level"), medal.get("medal_name"))
    # The command carries no timestamp or id: one like per viewer per second is what we can tell apart.
    return Like(
        origin=origin,
        event_id="like:" + stable_id(origin.key, uid, int(now)),
        viewer=Viewer(
            platform=PLATFORM,
            user_id=uid,
            nickname=_text(data.get("uname", ""), "LIKE_INFO_V3_CLICK uname"),
            fan_level=fan_level,
            badge=badge,
        ),
        ts=now,
    )


_DECODERS: dict[str, Callable[[dict[str, Any], Origin, float], Event | None]] = {
    "DANMU_MSG": _danmu,
    "INTERACT_WORD": _interact_word,
    "INTERACT_WORD_V2": _interact_word_v2,
    "LIVE": _live,
    "PREPARING": _preparing,
    "SEND_GIFT": _send_gift,
    "LIKE_INFO_V3_CLICK": _like_click,
}
