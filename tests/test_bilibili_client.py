"""Stories of the Bilibili connector against the local simulator (127.0.0.1 only)."""

from __future__ import annotations

import pytest

from bot.connectors.base import OutgoingMessage
from bot.connectors.replay.formats import RecordedLine
from handlers.events import ChatMessage, Follow, LiveEnded, LiveStarted, SendEcho
from tests.bilibili_sim import running

pytestmark = pytest.mark.timeout(30)


def chat(text: str, uid: str = "7001", nick: str = "小王", room: str = "") -> RecordedLine:
    return RecordedLine(kind="chat", text=text, user_id=uid, nickname=nick, room=room)


async def test_scripted_danmaku_in_two_rooms_come_out_as_typed_chat_messages() -> None:
    script = [chat("多少钱", room="1001"), chat("几号链接", uid="7002", nick="小李", room="1002"), chat("有货吗", room="1001")]
    async with running(rooms=["1001", "1002"], script=script) as run:
        await run.until(lambda: len(run.of(ChatMessage)) == 3, what="three danmaku")
        by_text = {m.text: m for m in run.of(ChatMessage)}
        assert set(by_text) == {"多少钱", "几号链接", "有货吗"}
        assert by_text["几号链接"].origin.key == "1002" and by_text["几号链接"].viewer.nickname == "小李"
        assert by_text["多少钱"].origin.key == "1001" and by_text["多少钱"].viewer.user_id == "7001"
        assert by_text["多少钱"].viewer.fan_level == 3 and by_text["多少钱"].viewer.badge == "粉丝团"
        assert not any(m.is_self for m in run.of(ChatMessage))
        assert {s.key for s in run.connector.sources} == {"bilibili:room:1001", "bilibili:room:1002"}
        assert run.connector.health.state == "live"


async def test_a_short_room_id_is_resolved_to_the_real_one() -> None:
    async with running(rooms=["21452505"], short_ids={"123": "21452505"}, client={"rooms": ["123"]}) as run:
        await run.subscribed()
        await run.control("/_sim/inject", {"type": "chat", "room": "21452505", "user_id": "9", "text": "在吗"})
        await run.until(lambda: len(run.of(ChatMessage)) == 1)
        assert run.of(ChatMessage)[0].origin.key == "123"


async def test_follow_and_live_start_end_become_events() -> None:
    async with running() as run:
        await run.subscribed()
        await run.control("/_sim/inject", {"type": "live_start"})
        await run.control("/_sim/inject", {"type": "follow", "user_id": "8888", "nickname": "新粉丝"})
        await run.control("/_sim/inject", {"type": "live_end"})
        await run.until(lambda: len(run.events) == 3)
        started, followed, ended = run.events
        assert isinstance(started, LiveStarted) and isinstance(ended, LiveEnded)
        assert isinstance(followed, Follow)
        assert (followed.viewer.user_id, followed.viewer.nickname) == ("8888", "新粉丝")


async def test_our_reply_is_recorded_and_its_echo_is_recognised_not_answered() -> None:
    async with running() as run:
        await run.subscribed()
        await run.control("/_sim/inject", {"type": "chat", "user_id": "7001", "nickname": "小王", "text": "多少钱"})
        sender = run.connector.sender
        assert sender is not None
        message = OutgoingMessage("reply-1", "bilibili", "shop", "live_chat", "21452505", "29.9元，1号链接")
        receipt = await sender.send(message)
        assert receipt.echo_expected and receipt.platform_message_id
        assert [s.text for s in run.state.sends.sends] == ["29.9元，1号链接"]
        await run.until(lambda: len(run.of(SendEcho)) == 1, what="echo")
        mine = [m for m in run.of(ChatMessage) if m.is_self]
        theirs = [m for m in run.of(ChatMessage) if not m.is_self]
        assert [m.text for m in mine] == ["29.9元，1号链接"] and [m.text for m in theirs] == ["多少钱"]
        echo = run.of(SendEcho)[0]
        assert echo.idempotency_key == "reply-1" and echo.platform_message_id == receipt.platform_message_id


async def test_a_retried_send_with_the_same_key_is_not_duplicated() -> None:
    async with running() as run:
        await run.subscribed()
        sender = run.connector.sender
        assert sender is not None
        message = OutgoingMessage("reply-7", "bilibili", "shop", "live_chat", "21452505", "有货的")
        await sender.send(message)
        await sender.send(message)
        assert len(run.state.sends.sends) == 1 and run.state.sends.duplicates == 1
        await run.until(lambda: len(run.of(SendEcho)) == 1)
        await run.control("/_sim/inject", {"type": "chat", "user_id": "5", "text": "marker"})
        await run.until(lambda: any(m.text == "marker" for m in run.of(ChatMessage)))
        assert len(run.of(SendEcho)) == 1


async def test_someone_else_typing_our_words_is_not_taken_for_our_echo() -> None:
    async with running(client={"uid": 10001}) as run:
        await run.subscribed()
        run.connector.sources[0]._echo.note_sent("21452505", "有货的", "k1")  # type: ignore[attr-defined]
        await run.control("/_sim/inject", {"type": "chat", "user_id": "4242", "text": "有货的"})
        await run.until(lambda: len(run.of(ChatMessage)) == 1)
        assert not run.of(ChatMessage)[0].is_self and not run.of(SendEcho)


async def test_heartbeat_replies_report_popularity() -> None:
    async with running() as run:
        await run.subscribed()
        await run.until(lambda: "popularity:21452505" in run.connector.health.extra, what="heartbeat reply")
        assert run.connector.health.extra["popularity:21452505"] >= 1
