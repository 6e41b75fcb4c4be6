"""Live reminders: once per person per broadcast, N minutes before the start, never after it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.caps import Deferred, Granted, MemoryCounterStore, PendingTouch, Suppressed, decide, pick
from handlers.dm_rules import DmState
from handlers.reminders import (
    Broadcast,
    Subscriber,
    asks_next_live,
    broadcasts_from_schedule,
    due_reminders,
    minutes_until,
    plan_reminders,
    subscription_reason,
)
from handlers.settings import CapsSettings, RemindersSettings, ScheduleEntry
from replies.render import Rendered, ReplyBook, ReplyContext, default_template_paths, format_live_time

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 20, 0, tzinfo=SH).timestamp()
LIVE = Broadcast("live-20261123", START, "秋冬上新专场", platform="bilibili")


def sub(i: int, platform: str = "bilibili", subscribed_at: float = START - 86400, **kw: object) -> Subscriber:
    return Subscriber(f"{platform}:{i}", str(i), platform, "shop", f"粉丝{i}", subscribed_at, "expressed intent price", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["明天还播吗", "下次什么时候播", "主播几点开播呀", "周六直播吗", "还会播吗", "开播提醒我", "When is the next stream?"]
)
def test_next_live_questions_are_recognised(text: str) -> None:
    assert asks_next_live(text)


@pytest.mark.parametrize("text", ["多少钱", "主播好漂亮", "播放量好高", "这个颜色好看吗", "I love this live"])
def test_other_messages_are_not_next_live_questions(text: str) -> None:
    assert not asks_next_live(text)


def test_who_subscribes() -> None:
    settings = RemindersSettings()
    assert subscription_reason(("price",), "3号多少钱", settings) == "expressed intent price"
    assert subscription_reason((), "明天还播吗", settings) == "asked when the next live is"
    assert subscription_reason(("ordered",), "已拍", settings) is None
    assert subscription_reason((), "哈哈哈", settings) is None
    custom = RemindersSettings(next_live_patterns=["蹲.{0,3}直播"])
    assert subscription_reason((), "蹲一个直播", custom) == "asked when the next live is"


def test_a_reminder_goes_out_once_ten_minutes_before_the_live() -> None:
    people = [sub(1), sub(2)]
    assert due_reminders([LIVE], people, set(), START - 11 * 60) == []  # too early
    due = due_reminders([LIVE], people, set(), START - 10 * 60)
    assert [d.key for d in due] == ["reminder:live-20261123:bilibili:1", "reminder:live-20261123:bilibili:2"]
    assert all(d.touch.kind == "reminder" and d.touch.subtype == "live-20261123" for d in due)
    # The next tick: person 1's reminder is already in the outbox, person 2's not yet.
    again = due_reminders([LIVE], people, {due[0].key}, START - 9 * 60)
    assert [d.key for d in again] == [due[1].key]
    assert due_reminders([LIVE], people, {d.key for d in due}, START - 60) == []


def test_no_reminder_after_the_broadcast_started() -> None:
    assert due_reminders([LIVE], [sub(1)], set(), START) == []
    assert due_reminders([LIVE], [sub(1)], set(), START + 60) == []
    early = Broadcast(LIVE.broadcast_id, START, LIVE.title, "bilibili", started_at=START - 5 * 60)
    assert due_reminders([early], [sub(1)], set(), START - 4 * 60) == []  # went live early
    assert len(due_reminders([early], [sub(1)], set(), START - 6 * 60)) == 1


def test_the_once_per_broadcast_claim_stops_a_second_reminder_even_with_a_new_key() -> None:
    caps, store = CapsSettings(quiet_hours={"enabled": False}), MemoryCounterStore()
    (first,) = due_reminders([LIVE], [sub(1)], set(), START - 600)
    assert isinstance(decide(first.touch, caps, START - 600, store, extra_claims=first.claims), Granted)
    (again,) = due_reminders([LIVE], [sub(1)], set(), START - 300)  # e.g. the outbox row was lost
    result = decide(again.touch, caps, START - 300, store, extra_claims=again.claims)
    assert isinstance(result, Suppressed) and result.reason == "suppressed: already reminded of live-20261123"


def test_subscribers_only_for_their_platform_and_recent_enough() -> None:
    people = [sub(1), sub(2, platform="douyin_open", dm=DmState(window_until=START)), sub(3, subscribed_at=START - 30 * 86400)]
    due = due_reminders([LIVE], people, set(), START - 300)
    assert [d.subscriber.person_key for d in due] == ["bilibili:1"]
    anywhere = Broadcast("all", START, "")
    assert {d.subscriber.person_key for d in due_reminders([anywhere], people, set(), START - 300)} == {
        "bilibili:1",
        "douyin_open:2",
    }


def test_the_channel_follows_the_platform_rules() -> None:
    stranger_already_messaged = sub(1, dm=DmState(unanswered_sent=1))
    with_comment = sub(2, dm=DmState(unanswered_sent=1), comment_target="comment-77")
    due, skipped = plan_reminders([LIVE], [stranger_already_messaged, with_comment], set(), START - 300)
    assert [(d.touch.channel, d.touch.target) for d in due] == [("public_reply", "comment-77")]
    assert "bilibili 21047" in skipped[0].reason
    youtube = Broadcast("yt", START, "", platform="youtube")
    _, skipped = plan_reminders([youtube], [sub(5, platform="youtube")], set(), START - 300)
    assert "youtube: no private messages" in skipped[0].reason


def test_schedule_entries_are_read_in_the_store_timezone() -> None:
    entries = [
        ScheduleEntry(start=datetime(2026, 11, 23, 20, 0), title="秋冬上新专场", platform="bilibili"),
        ScheduleEntry(id="yt-1", start=datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("UTC"))),
    ]
    first, second = broadcasts_from_schedule(entries, "Asia/Shanghai")
    assert first.starts_at == START and first.broadcast_id == "live-20261123T2000"
    assert second.broadcast_id == "yt-1" and second.starts_at == START


def test_the_reminder_text_names_the_broadcast_and_minutes() -> None:
    book = ReplyBook.load(default_template_paths("zh"))
    now = START - 600
    (due,) = due_reminders([LIVE], [sub(1)], set(), now)
    context = ReplyContext(
        nickname=due.subscriber.nickname,
        title=LIVE.title,
        minutes=minutes_until(LIVE, now),
        next_live=format_live_time(LIVE.starts_at, now, "Asia/Shanghai"),
    )
    result = book.render("reminder", due.touch.channel, "bilibili", context, key=due.key)
    assert isinstance(result, Rendered)
    assert "粉丝1" in result.text and ("10分钟" in result.text or "20:00" in result.text)


def test_a_reminder_held_by_quiet_hours_until_after_the_start_is_dropped() -> None:
    caps = CapsSettings()
    morning = Broadcast("morning", datetime(2026, 11, 24, 8, 5, tzinfo=SH).timestamp(), "早场", "bilibili")
    now = morning.starts_at - 600  # 07:55, quiet until 08:00
    (due,) = due_reminders([morning], [sub(1)], set(), now)
    deferred = decide(due.touch, caps, now, MemoryCounterStore(), extra_claims=due.claims)
    assert isinstance(deferred, Deferred) and deferred.until < due.deadline  # 08:00 < 08:05: still useful
    pending = PendingTouch(due.touch, due.key, now, deadline=due.deadline)
    assert pick([pending], 1, due.deadline + 1, caps).dropped[0].reason.startswith("stale: past its deadline")
    assert pick([pending], 1, deferred.until, caps).send == (pending,)
