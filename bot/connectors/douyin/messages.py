"""Douyin webcast business messages (protocols.md §2.4), only the fields leadbot uses.

Each ``Message.method`` maps to one dataclass with a ``decode`` (bytes → dataclass, only
``ProtocolError`` escapes) and an ``encode`` (for the simulator and tests). Field numbers are
from saermart ``douyin.proto`` cross-checked with ``new_douyin.proto``; the ones marked [V] in
protocols.md were checked against the captured Response in ``vectors/douyin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.connectors import protowire as wire


@dataclass(frozen=True, slots=True)
class User:
    id: int = 0  # 1
    short_id: int = 0  # 2
    nickname: str = ""  # 3
    display_id: str = ""  # 38 (the public "抖音号")
    sec_uid: str = ""  # 46
    id_str: str = ""  # 1028
    fans_club_name: str = ""  # 24.1.1
    fans_club_level: int = 0  # 24.1.2

    @property
    def uid(self) -> str:
        return self.id_str or (str(self.id) if self.id else "")

    @classmethod
    def decode(cls, data: bytes) -> User:
        f = wire.parse(data)
        club_name, club_level = "", 0
        club = f.raw(24)
        if club:
            club_data = wire.parse(club).raw(1)
            if club_data:
                c = wire.parse(club_data)
                club_name, club_level = c.text(1), c.num(2)
        return cls(
            id=f.num(1),
            short_id=f.num(2),
            nickname=f.text(3),
            display_id=f.text(38),
            sec_uid=f.text(46),
            id_str=f.text(1028),
            fans_club_name=club_name,
            fans_club_level=club_level,
        )

    def encode(self) -> bytes:
        club = b""
        if self.fans_club_name or self.fans_club_level:
            club = wire.enc_msg(24, wire.enc_msg(1, wire.enc_str(1, self.fans_club_name) + wire.enc_int(2, self.fans_club_level)))
        return wire.join(
            [
                wire.enc_int(1, self.id),
                wire.enc_int(2, self.short_id),
                wire.enc_str(3, self.nickname),
                club,
                wire.enc_str(38, self.display_id),
                wire.enc_str(46, self.sec_uid),
                wire.enc_str(1028, self.id_str),
            ]
        )


def _user(f: wire.Fields, number: int) -> User:
    raw = f.raw(number)
    return User.decode(raw) if raw else User()


def _enc_user(number: int, user: User | None) -> bytes:
    return wire.enc_msg(number, user.encode()) if user is not None else b""


@dataclass(frozen=True, slots=True)
class Common:
    method: str = ""  # 1
    msg_id: int = 0  # 2
    room_id: int = 0  # 3
    create_time: int = 0  # 4, unix ms
    display_key: str = ""  # 8 Text.key, e.g. "pm_mt_guidance_viewer_..._share" (TikTok) [?]

    @classmethod
    def decode(cls, data: bytes) -> Common:
        f = wire.parse(data)
        text = f.raw(8)
        return cls(
            method=f.text(1),
            msg_id=f.num(2),
            room_id=f.num(3),
            create_time=f.num(4),
            display_key=wire.parse(text).text(1) if text else "",
        )

    def encode(self) -> bytes:
        return wire.join(
            [
                wire.enc_str(1, self.method),
                wire.enc_int(2, self.msg_id),
                wire.enc_int(3, self.room_id),
                wire.enc_int(4, self.create_time),
                wire.enc_msg(8, wire.enc_str(1, self.display_key)) if self.display_key else b"",
            ]
        )


def _common(f: wire.Fields) -> Common:
    raw = f.raw(1)
    return Common.decode(raw) if raw else Common()


@dataclass(frozen=True, slots=True)
class ChatMessage:
    METHOD = "WebcastChatMessage"
    common: Common = field(default_factory=Common)  # 1
    user: User = field(default_factory=User)  # 2
    content: str = ""  # 3
    event_time: int = 0  # 15, unix s

    @classmethod
    def decode(cls, data: bytes) -> ChatMessage:
        f = wire.parse(data)
        return cls(common=_common(f), user=_user(f, 2), content=f.text(3), event_time=f.num(15))

    def encode(self) -> bytes:
        return wire.join(
            [
                wire.enc_msg(1, self.common.encode()),
                _enc_user(2, self.user),
                wire.enc_str(3, self.content),
                wire.enc_int(15, self.event_time),
            ]
        )


@dataclass(frozen=True, slots=True)
class EmojiChatMessage:
    METHOD = "WebcastEmojiChatMessage"
    common: Common = field(default_factory=Common)  # 1
    user: User = field(default_factory=User)  # 2
    emoji_id: int = 0  # 3
    default_content: str = ""  # 5

    @classmethod
    def decode(cls, data: bytes) -> EmojiChatMessage:
        f = wire.parse(data)
        return cls(common=_common(f), user=_user(f, 2), emoji_id=f.num(3), default_content=f.text(5))

    def encode(self) -> bytes:
        return wire.join(
            [
                wire.enc_msg(1, self.common.encode()),
                _enc_user(2, self.user),
                wire.enc_int(3, self.emoji_id),
                wire.enc_str(5, self.default_content),
            ]
        )


@dataclass(frozen=True, slots=True)
class MemberMessage:
    METHOD = "WebcastMemberMessage"
    common: Common = field(default_factory=Common)  # 1
    user: User = field(default_factory=User)  # 2
    member_count: int = 0  # 3
    action: int = 0  # 10 (1 = entered)

    @classmethod
    def decode(cls, data: bytes) -> MemberMessage:
        f = wire.parse(data)
        return cls(common=_common(f), user=_user(f, 2), member_count=f.num(3), action=f.num(10))

    def encode(self) -> bytes:
        return wire.join(
            [
                wire.enc_msg(1, self.common.encode()),
                _enc_user(2, self.user),
                wire.enc_int(3, self.member_count),
                wire.enc_int(10, self.action),
            ]
        )


@dataclass(frozen=True, slots=True)
class SocialMessage:
    METHOD = "WebcastSocialMessage"
    common: Common = field(default_factory=Common)  # 1
    user: User = field(default_factory=User)  # 2
    share_type: int = 0  # 3
    action: int = 0  # 4 (follow is believed to be 1 — unverified, protocols.md §2 uncertain)
    share_target: str = ""  # 5
    follow_count: int = 0  # 6

    @classmethod
    def decode(cls, data: bytes) -> SocialMessage:
        f = wire.parse(data)
        return cls(
            common=_common(f),
            user=_user(f, 2),
            share_type=f.num(3),
            action=f.num(4),
            share_target=f.text(5),
            follow_count=f.num(6),
        )

    def encode(self) -> bytes:
        return wire.join(
            [
                wire.enc_msg(1, self.common.encode()),
                _enc_user(2, self.user),
                wire.enc_int(3, self.share_type),
                wire.enc_int(4, self.action),
                wire.enc_str(5, self.share_target),
                wire.enc_int(6, self.follow_count),
            ]
        )


@dataclass(frozen=True, slots=True)
class LikeMessage:
    METHOD = "WebcastLikeMessage"
    common: Common = field(default_factory=Common)  # 1
    count: int = 0  # 2
    total: int = 0  # 3
    user: User = field(default_factory=User)  # 5

    @classmethod
    def decode(cls, data: bytes) -> LikeMessage:
        f = wire.parse(data)
        return cls(common=_common(f), count=f.num(2), total=f.num(3), user=_user(f, 5))

    def encode(self) -> bytes:
        return wire.join(
            [
                wire.enc_msg(1, self.common.encode()),
                wire.enc_int(2, self.count),
                wire.enc_int(3, self.total),
                _enc_user(5, self.user),
            ]
        )


@dataclass(frozen=True, slots=True)
class GiftStruct:
    id: int = 0  # 5
    name: str = ""  # 16
    diamond_count: int = 0  # 12
    combo: bool = False  # 10
    type: int = 0  # 11

    @classmethod
    def decode(cls, data: bytes) -> GiftStruct:
        f = wire.parse(data)
        return cls(id=f.num(5), name=f.text(16), diamond_count=f.num(12), combo=f.flag(10), type=f.num(11))

    def encode(self) -> bytes:
        return wire.join(
            [
                wire.enc_int(5, self.id),
                wire.enc_bool(10, self.combo),
                wire.enc_int(11, self.type),
                wire.enc_int(12, self.diamond_count),
                wire.enc_str(16, self.name),
            ]
        )


@dataclass(frozen=True, slots=True)
class GiftMessage:
    METHOD = "WebcastGiftMessage"
    common: Common = field(default_factory=Common)  # 1
    gift_id: int = 0  # 2
    group_count: int = 0  # 4
    repeat_count: int = 0  # 5
    combo_count: int = 0  # 6
    user: User = field(default_factory=User)  # 7
    repeat_end: int = 0  # 9 (1 = the combo streak is over)
    gift: GiftStruct = field(default_factory=GiftStruct)  # 15
    total_count: int = 0  # 29
    trace_id: str = ""  # 35

    @classmethod
    def decode(cls, data: bytes) -> GiftMessage:
        f = wire.parse(data)
        gift = f.raw(15)
        return cls(
            common=_common(f),
            gift_id=f.num(2),
            group_count=f.num(4),
            repeat_count=f.num(5),
            combo_count=f.num(6),
            user=_user(f, 7),
            repeat_end=f.num(9),
            gift=GiftStruct.decode(gift) if gift else GiftStruct(),
            total_count=f.num(29),
            trace_id=f.text(35),
        )

    def encode(self) -> bytes:
        return wire.join(
            [
                wire.enc_msg(1, self.common.encode()),
                wire.enc_int(2, self.gift_id),
                wire.enc_int(4, self.group_count),
                wire.enc_int(5, self.repeat_count),
                wire.enc_int(6, self.combo_count),
                _enc_user(7, self.user),
                wire.enc_int(9, self.repeat_end),
                wire.enc_msg(15, self.gift.encode()),
                wire.enc_int(29, self.total_count),
                wire.enc_str(35, self.trace_id),
            ]
        )


@dataclass(frozen=True, slots=True)
class ControlMessage:
    METHOD = "WebcastControlMessage"
    common: Common = field(default_factory=Common)  # 1
    action: int = 0  # 2 (1 paused, 2 unpaused, 3 ended, 4 suspended)
    tips: str = ""  # 3

    @classmethod
    def decode(cls, data: bytes) -> ControlMessage:
        f = wire.parse(data)
        return cls(common=_common(f), action=f.num(2), tips=f.text(3))

    def encode(self) -> bytes:
        return wire.join([wire.enc_msg(1, self.common.encode()), wire.enc_int(2, self.action), wire.enc_str(3, self.tips)])


Business = ChatMessage | EmojiChatMessage | MemberMessage | SocialMessage | LikeMessage | GiftMessage | ControlMessage

DECODERS: dict[str, type[Business]] = {
    cls.METHOD: cls
    for cls in (ChatMessage, EmojiChatMessage, MemberMessage, SocialMessage, LikeMessage, GiftMessage, ControlMessage)
}


def decode_business(method: str, payload: bytes) -> Business | None:
    """The typed message for ``method``; None for methods leadbot does not use (stats, ranks...)."""
    cls = DECODERS.get(method)
    return cls.decode(payload) if cls is not None else None
