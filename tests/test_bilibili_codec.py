"""Bilibili wire format on real captured packets (shared/vectors/bilibili, from
bilibili-API-collect docs/live/message_stream.md): the bytes decode to what the docs say,
and our encoder writes byte-identical packets."""

from __future__ import annotations

import json

import pytest

from bot.connectors.bilibili import frames
from bot.connectors.bilibili.decode import decode_command, decode_interact_word_v2_pb
from bot.connectors.errors import ProtocolError
from handlers.events import ChatMessage, Follow, Gift, Like, LiveEnded, LiveStarted, MemberJoined, Origin
from tests.bilibili_data import vector_bytes, vector_json, vectors_dir

ROOM = Origin(platform="bilibili", account="shop", kind="live", key="22608112")
NOW = 1_800_000_000.0


def test_the_web_client_auth_packet_decodes_and_reencodes_byte_for_byte() -> None:
    raw = vector_bytes("002_.txt")
    [packet] = frames.decode_message(raw)
    assert (packet.op, packet.ver, packet.seq) == (frames.Op.AUTH, 1, 1)
    body = frames.json_body(packet)
    assert body["uid"] == 160148624 and body["roomid"] == 22608112
    assert body["protover"] == 3 and body["platform"] == "web" and body["type"] == 2
    assert body["key"].startswith("0vpTHW7wWUnloRp") and body["key"].endswith("payn4y0qBhQ==")
    assert frames.encode_packet(frames.Op.AUTH, packet.body) == raw


def test_auth_reply_says_code_zero() -> None:
    [packet] = frames.decode_message(vector_bytes("003_.txt"))
    assert packet.op == frames.Op.AUTH_REPLY
    assert frames.json_body(packet) == {"code": 0}


def test_browser_heartbeat_is_op2_with_object_object_body() -> None:
    raw = vector_bytes("004_.txt")
    [packet] = frames.decode_message(raw)
    assert (packet.op, packet.ver, packet.body) == (frames.Op.HEARTBEAT, 1, b"[object Object]")
    assert frames.encode_packet(frames.Op.HEARTBEAT, "[object Object]") == raw


def test_heartbeat_reply_carries_popularity_and_pack_len_counts_only_four_bytes() -> None:
    raw = vector_bytes("005_.txt")
    assert int.from_bytes(raw[:4], "big") == 20  # the quirk: the echo is not counted
    [packet] = frames.decode_message(raw)
    assert frames.popularity(packet) == 0x09A2 == 2466
    assert frames.encode_heartbeat_reply(2466, b"[object Object]") == raw


def test_brotli_ver3_packet_expands_to_the_inner_watched_change_command() -> None:
    raw = vector_bytes("006_.txt")
    assert int.from_bytes(raw[6:8], "big") == frames.ProtoVer.BROTLI
    [packet] = frames.decode_message(raw)
    assert (packet.op, packet.ver) == (frames.Op.SEND_MSG_REPLY, frames.ProtoVer.NORMAL)
    command = frames.json_body(packet)
    assert command["cmd"] == "WATCHED_CHANGE" and command["data"]["num"] == 22097
    assert command["data"]["text_large"] == "2.2万人看过"
    assert decode_command(command, ROOM, now=NOW) is None  # counted by nobody, ignored


def test_a_real_danmaku_becomes_a_chat_message_with_medal_and_dm_id() -> None:
    event = decode_command(vector_json("008_DANMU_MSG.jsonc"), ROOM, now=NOW)
    assert isinstance(event, ChatMessage)
    assert event.text == "白花300块[热]"
    assert event.viewer.user_id == "6088969" and event.viewer.nickname == "tim1997"
    assert event.viewer.fan_level == 29 and event.viewer.badge == "果咩吖"
    assert event.ts == pytest.approx(1723979200.649)
    assert event.event_id == "dm:364b06e3c561af3d5921f1253d66c1d575"
    assert event.event_id == "dm:" + vector_json("007_DANMU_MSG.jsonc")["id_str"]
    assert event.origin == ROOM and not event.is_self


def test_danmaku_without_extra_gets_a_stable_hash_id() -> None:
    command = vector_json("008_DANMU_MSG.jsonc")
    command["info"][0][15] = {}
    first = decode_command(command, ROOM, now=NOW)
    again = decode_command(json.loads(json.dumps(command)), ROOM, now=NOW + 99)
    assert isinstance(first, ChatMessage) and isinstance(again, ChatMessage)
    assert first.event_id == again.event_id and first.event_id.startswith("dm:h")
    command["info"][1] = "另一条"
    other = decode_command(command, ROOM, now=NOW)
    assert other is not None and other.event_id != first.event_id


def test_danmaku_in_a_brotli_batch_with_other_commands() -> None:
    batch = frames.encode_batch(
        [vector_json("008_DANMU_MSG.jsonc"), vector_json("045_LIKE_INFO_V3_UPDATE.json"), vector_json("031_LIVE.json")]
    )
    events = [decode_command(frames.json_body(p), ROOM, now=NOW) for p in frames.decode_message(batch)]
    assert [type(e).__name__ for e in events] == ["ChatMessage", "NoneType", "LiveStarted"]


def test_suffixed_danmu_cmd_is_still_a_danmaku() -> None:
    command = vector_json("008_DANMU_MSG.jsonc")
    command["cmd"] = "DANMU_MSG:4:0:2:2:2:0"
    assert isinstance(decode_command(command, ROOM, now=NOW), ChatMessage)


def test_legacy_interact_word_enter_and_follow() -> None:
    command = vector_json("015_INTERACT_WORD.json")
    entered = decode_command(command, ROOM, now=NOW)
    assert isinstance(entered, MemberJoined)
    assert entered.viewer.user_id == "335979315" and entered.viewer.nickname == "TIM_Init"
    assert entered.viewer.fan_level == 1 and entered.viewer.badge == "小豆皮"
    assert entered.ts == 1644563948
    command["data"]["msg_type"] = 2
    followed = decode_command(command, ROOM, now=NOW)
    assert isinstance(followed, Follow) and followed.viewer.user_id == "335979315"
    assert followed.event_id != entered.event_id
    command["data"]["msg_type"] = 3  # share: not an event we use
    assert decode_command(command, ROOM, now=NOW) is None


def test_interact_word_v2_protobuf_decodes_to_the_documented_fields() -> None:
    command = vector_json("016_V2_INTERACT_WORD_V2.json")
    fields = decode_interact_word_v2_pb(command["data"]["pb"])
    assert fields["uid"] == 439367700 and fields["uname"] == "StarSea246"
    assert fields["msg_type"] == 1 and fields["roomid"] == 544853
    assert fields["timestamp"] == 1751716524 and fields["timestamp_ms"] == 1752007728340
    assert fields["face"] == "https://i0.hdslb.com/bfs/face/109b787c5f113c4a3c7415bb9bf6b82bc33bc4e2.jpg"
    event = decode_command(command, ROOM, now=NOW)
    assert isinstance(event, MemberJoined)
    assert (event.viewer.user_id, event.viewer.nickname, event.ts) == ("439367700", "StarSea246", 1751716524)


def test_live_and_preparing_mark_the_broadcast_start_and_end() -> None:
    started = decode_command(vector_json("031_LIVE.json"), ROOM, now=NOW)
    assert isinstance(started, LiveStarted) and started.ts == 1651036923
    assert started.event_id == "live:22608112:234304209915761953"
    ended = decode_command(vector_json("029_PREPARING.json"), ROOM, now=NOW)  # roomid is a string here
    assert isinstance(ended, LiveEnded) and ended.ts == pytest.approx(1739985402.716)
    assert ended.event_id == "end:22608112:26964930181741056:1000:1000"
    assert isinstance(decode_command(vector_json("030_PREPARING.json"), ROOM, now=NOW), LiveEnded)


def test_a_gift_counts_with_its_value_in_yuan() -> None:
    gift = decode_command(vector_json("022_SEND_GIFT.json"), ROOM, now=NOW)
    assert isinstance(gift, Gift)
    assert gift.gift_name == "小花花" and gift.count == 1 and gift.value == pytest.approx(0.1)
    assert gift.viewer.user_id == "510149209" and gift.viewer.nickname == "12138额83121"
    assert gift.event_id == "gift:1673622464121900003" and gift.ts == 1673622464


def test_a_like_click_counts_as_a_like() -> None:
    like = decode_command(vector_json("044_LIKE_INFO_V3_CLICK.json"), ROOM, now=NOW)
    assert isinstance(like, Like) and like.viewer.user_id == "32174213" and like.viewer.nickname == "MeiDngS"


def test_every_captured_command_decodes_without_error() -> None:
    seen = 0
    for path in sorted(vectors_dir().glob("*.json")):
        command = json.loads(path.read_text(encoding="utf-8"))
        if "cmd" not in command:
            continue
        decode_command(command, ROOM, now=NOW)  # must not raise: these are real messages
        seen += 1
    assert seen >= 90


def test_a_known_command_with_a_broken_shape_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode_command({"cmd": "DANMU_MSG", "info": "nope"}, ROOM, now=NOW)
    with pytest.raises(ProtocolError):
        decode_command({"cmd": "INTERACT_WORD_V2", "data": {"pb": "!!notbase64"}}, ROOM, now=NOW)
    with pytest.raises(ProtocolError):
        decode_command({"cmd": "SEND_GIFT", "data": {"uid": {"x": 1}}}, ROOM, now=NOW)


def test_truncated_and_garbage_frames_are_protocol_errors() -> None:
    raw = vector_bytes("006_.txt")
    for cut in (0, 5, 16, 40, len(raw) - 1):
        with pytest.raises(ProtocolError):
            frames.decode_message(raw[:cut])
    with pytest.raises(ProtocolError):
        frames.decode_message(b"\x00\x00\x00\x20\x00\x10\x00\x03\x00\x00\x00\x05\x00\x00\x00\x00" + b"garbage!" * 2)


def test_a_compression_bomb_is_refused() -> None:
    import brotli

    inner = frames.encode_packet(5, b"{" + b" " * (frames.MAX_DECOMPRESSED + 10) + b"}", ver=0)
    bomb = brotli.compress(inner)
    packet = frames.HEADER.pack(16 + len(bomb), 16, 3, 5, 0) + bomb
    with pytest.raises(ProtocolError):
        frames.decode_message(packet)


def test_zlib_ver2_batches_as_the_open_platform_sends_them() -> None:
    batch = frames.encode_batch([vector_json("031_LIVE.json"), vector_json("029_PREPARING.json")], ver=frames.ProtoVer.ZLIB)
    assert int.from_bytes(batch[6:8], "big") == 2
    events = [decode_command(frames.json_body(p), ROOM, now=NOW) for p in frames.decode_message(batch)]
    assert [type(e) for e in events] == [LiveStarted, LiveEnded]


def test_several_packets_back_to_back_in_one_message() -> None:
    message = frames.encode_packet(5, vector_json("031_LIVE.json"), ver=0) + frames.encode_batch([vector_json("029_PREPARING.json")])
    assert [frames.json_body(p)["cmd"] for p in frames.decode_message(message)] == ["LIVE", "PREPARING"]
