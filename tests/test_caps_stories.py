"""Caps: one engine over every touch; stories from the merchant's point of view."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.caps import (
    CounterClaim,
    Deferred,
    Granted,
    MemoryCounterStore,
    Suppressed,
    Touch,
    decide,
    explain_refusal,
    plan_claims,
)
from handlers.settings import CapsSettings

SH = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 11, 23, 12, 0, tzinfo=SH).timestamp()


def reply(intent: str, person: str = "bilibili:1001", room: str = "21452505", platform: str = "bilibili") -> Touch:
    return Touch("reply", intent, person, platform, "shop", "live_chat", room)


def test_a_viewer_asks_three_questions_in_a_minute_and_gets_one_reply() -> None:
    caps, store = CapsSettings(), MemoryCounterStore()
    results = [decide(reply(intent), caps, NOON + i * 20, store) for i, intent in enumerate(["price", "stock", "spec"])]
    assert isinstance(results[0], Granted)
    assert all(isinstance(r, Suppressed) for r in results[1:])
    for r in results[1:]:
        assert isinstance(r, Suppressed)
        assert r.reason.startswith("suppressed: reply.cooldown_s=300")


def test_the_same_question_later_that_day_is_not_answered_twice() -> None:
    caps, store = CapsSettings(), MemoryCounterStore()
    assert isinstance(decide(reply("price"), caps, NOON, store), Granted)
    again = decide(reply("price"), caps, NOON + 3600, store)
    assert isinstance(again, Suppressed)
    assert again.reason.startswith("suppressed: reply.per_user_per_day=1 reached")
    # A different question an hour later is a new subtype: answered.
    assert isinstance(decide(reply("shipping"), caps, NOON + 3600, store), Granted)


def test_the_next_day_in_the_store_timezone_starts_fresh() -> None:
    caps, store = CapsSettings(), MemoryCounterStore()
    late = datetime(2026, 11, 23, 23, 50, tzinfo=SH).timestamp()
    assert isinstance(decide(reply("price"), caps, late, store), Granted)
    # 23:59 Shanghai is still the same day (UTC already rolled over at 08:00 Shanghai).
    assert isinstance(decide(reply("price"), caps, late + 9 * 60 + 59, store), Suppressed)
    after_midnight = datetime(2026, 11, 24, 0, 1, tzinfo=SH).timestamp()
    assert isinstance(decide(reply("price"), caps, after_midnight, store), Granted)


def test_day_keys_use_the_store_timezone() -> None:
    # 2026-11-23 17:30 UTC is already 2026-11-24 01:30 in Shanghai.
    now = datetime(2026, 11, 23, 17, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    keys = [c.key for c in plan_claims(reply("price"), CapsSettings(), now)]
    assert "u:bilibili:1001:reply:price:d2026-11-24" in keys
    assert "u:bilibili:1001:total:d2026-11-24" in keys
    ends = {c.key: c.expires_at for c in plan_claims(reply("price"), CapsSettings(), now)}
    assert ends["u:bilibili:1001:total:d2026-11-24"] == datetime(2026, 11, 25, tzinfo=SH).timestamp()


def test_one_total_per_person_per_day_over_all_strategies() -> None:
    caps = CapsSettings(per_user_total_per_day=2, reply={"cooldown_s": 0})
    store = MemoryCounterStore()
    person = "douyin:77"
    touches = [
        Touch("reply", "price", person, "douyin", "shop", "live_chat", "room1"),
        Touch("greeting", "follow", person, "douyin", "shop", "live_chat", "room1"),
        Touch("reminder", "live-1", person, "douyin", "shop", "public_reply", "video9"),
    ]
    results = [decide(t, caps, NOON + i, store) for i, t in enumerate(touches)]
    assert [type(r).__name__ for r in results] == ["Granted", "Granted", "Suppressed"]
    last = results[2]
    assert isinstance(last, Suppressed) and last.reason == "suppressed: caps.per_user_total_per_day=2 reached"


def test_conflicting_types_exclude_each_other_for_the_day_both_ways() -> None:
    caps = CapsSettings(conflicts=[("greeting", "reminder")])
    greet = Touch("greeting", "follow", "bilibili:5", "bilibili", "shop", "private_message", "5")
    remind = Touch("reminder", "live-1", "bilibili:5", "bilibili", "shop", "private_message", "5")
    quiet_free = CapsSettings(conflicts=[("greeting", "reminder")], quiet_hours={"enabled": False})
    for first, second in ((greet, remind), (remind, greet)):
        store = MemoryCounterStore()
        assert isinstance(decide(first, quiet_free, NOON, store), Granted)
        blocked = decide(second, quiet_free, NOON + 60, store)
        assert isinstance(blocked, Suppressed)
        assert "caps.conflicts greeting~reminder" in blocked.reason
        assert f"already got a {first.kind} today" in blocked.reason
        # A reply is independent of both.
        assert isinstance(decide(reply("price", person="bilibili:5"), quiet_free, NOON + 61, store), Granted)
        # Next day the other type is allowed again.
        assert isinstance(decide(second, quiet_free, NOON + 86400, store), Granted)
    assert caps.conflicts == [("greeting", "reminder")]


def test_a_busy_room_stops_at_its_per_minute_reply_limit() -> None:
    caps, store = CapsSettings(reply={"per_room": {"count": 3, "window_s": 60}}), MemoryCounterStore()
    start = 60 * (int(NOON) // 60)
    results = [decide(reply("price", person=f"bilibili:{i}"), caps, start + i, store) for i in range(5)]
    assert [isinstance(r, Granted) for r in results] == [True, True, True, False, False]
    assert isinstance(results[3], Suppressed) and "reply.per_room=3/60s reached for room 21452505" in results[3].reason
    assert isinstance(decide(reply("price", person="bilibili:99"), caps, start + 61, store), Granted)


def test_youtube_sends_spend_quota_units_per_pacific_day() -> None:
    caps = CapsSettings(quotas={"youtube": {"send_units": 100}}, reply={"cooldown_s": 0, "per_video": None})
    store = MemoryCounterStore()
    video = [Touch("reply", "price", f"youtube:u{i}", "youtube", "chan", "public_reply", "vid") for i in range(3)]
    results = [decide(t, caps, NOON + i, store) for i, t in enumerate(video)]
    assert [isinstance(r, Granted) for r in results] == [True, True, False]  # 50 units each
    assert isinstance(results[2], Suppressed) and "send_units=100 used up" in results[2].reason
    quota = [c for c in plan_claims(video[0], caps, NOON) if c.key.startswith("q:")][0]
    # 12:00 Shanghai = 20:00 the day before in Los Angeles.
    assert quota.key == "q:youtube:chan:d2026-11-22" and quota.amount == 50
    live = Touch("reply", "price", "youtube:u9", "youtube", "chan", "live_chat", "chat1")
    assert [c.amount for c in plan_claims(live, caps, NOON) if c.key.startswith("q:")] == [20]


def test_private_messages_wait_for_the_end_of_quiet_hours() -> None:
    caps, store = CapsSettings(), MemoryCounterStore()
    night = datetime(2026, 11, 23, 23, 30, tzinfo=SH).timestamp()
    dm = Touch("reminder", "live-1", "bilibili:8", "bilibili", "shop", "private_message", "8")
    result = decide(dm, caps, night, store)
    assert isinstance(result, Deferred)
    assert result.until == datetime(2026, 11, 24, 8, 0, tzinfo=SH).timestamp()
    assert "quiet_hours 22:00-08:00" in result.reason
    assert store.rows == {}  # nothing consumed while deferred
    early = datetime(2026, 11, 24, 7, 59, tzinfo=SH).timestamp()
    assert isinstance(decide(dm, caps, early, store), Deferred)
    assert isinstance(decide(dm, caps, early + 60, store), Granted)
    # Public live chat is not affected by quiet hours.
    assert isinstance(decide(reply("price"), caps, night, store), Granted)


def test_a_switched_off_type_is_refused_with_its_key() -> None:
    caps = CapsSettings(greeting={"enabled": False})
    greet = Touch("greeting", "follow", "bilibili:5", "bilibili", "shop", "live_chat", "room")
    result = decide(greet, caps, NOON, MemoryCounterStore())
    assert isinstance(result, Suppressed) and result.reason == "suppressed: caps.greeting.enabled=false"


def test_claims_are_all_or_nothing() -> None:
    store = MemoryCounterStore()
    ok = CounterClaim("a", 5, NOON + 100, "a")
    full = CounterClaim("b", 0, NOON + 100, "b.limit=0")
    assert store.try_claim([ok, full], NOON) == full
    assert store.count("a", NOON) == 0
    assert explain_refusal(full) == "suppressed: b.limit=0 reached"


def test_expired_counters_count_as_absent_and_holders_must_match() -> None:
    store = MemoryCounterStore()
    cooldown = CounterClaim("c", 1, NOON + 300, "cooldown")
    assert store.try_claim([cooldown], NOON) is None
    assert store.try_claim([CounterClaim("c", 1, NOON + 400, "cooldown")], NOON + 299) is not None
    assert store.try_claim([CounterClaim("c", 1, NOON + 600, "cooldown")], NOON + 300) is None
    assert store.try_claim([CounterClaim("x", 100, NOON + 9, "x", holder="greeting")], NOON) is None
    assert store.try_claim([CounterClaim("x", 100, NOON + 9, "x", holder="greeting")], NOON) is None
    assert store.try_claim([CounterClaim("x", 100, NOON + 9, "x", holder="reminder")], NOON) is not None
    assert store.purge(NOON + 10_000) == 2


def test_a_room_level_touch_has_no_person_counters() -> None:
    batch = Touch("greeting", "batch", "", "bilibili", "shop", "live_chat", "room")
    keys = [c.key for c in plan_claims(batch, CapsSettings(), NOON)]
    assert keys and all(k.startswith("r:bilibili:room:greeting") for k in keys)


@pytest.mark.parametrize("kind", ["coupon"])
def test_extra_touch_types_are_configurable(kind: str) -> None:
    caps = CapsSettings(types={kind: {"per_user_per_day": 1}})
    store = MemoryCounterStore()
    t = Touch(kind, "double11", "bilibili:3", "bilibili", "shop", "public_reply", "v")
    assert isinstance(decide(t, caps, NOON, store), Granted)
    assert isinstance(decide(t, caps, NOON + 10, store), Suppressed)
