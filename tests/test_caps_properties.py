"""Properties of the caps engine: counters never exceed their limits, whatever the sequence."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.caps import Granted, MemoryCounterStore, Touch, decide, plan_claims, quiet_until
from handlers.caps.quota import poll_interval_floor_s
from handlers.settings import CapsSettings, QuietHours, QuotaSettings

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
CAPS = CapsSettings(conflicts=[("greeting", "reminder")], quiet_hours={"enabled": False})

touches = st.builds(
    Touch,
    kind=st.sampled_from(["reply", "greeting", "reminder"]),
    subtype=st.sampled_from(["price", "link", "follow", "live-1"]),
    person_key=st.sampled_from(["bilibili:1", "bilibili:2", "douyin:1"]),
    platform=st.sampled_from(["bilibili", "douyin", "youtube"]),
    account=st.just("shop"),
    channel=st.sampled_from(["live_chat", "public_reply", "private_message"]),
    target=st.sampled_from(["room1", "video1"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(touches, st.floats(min_value=0, max_value=3 * 86400)), max_size=40))
def test_no_person_ever_exceeds_the_daily_total_and_conflicts_hold(seq: list[tuple[Touch, float]]) -> None:
    store = MemoryCounterStore()
    granted: list[tuple[Touch, float]] = []
    for touch, offset in sorted(seq, key=lambda item: item[1]):
        now = T0 + offset
        if isinstance(decide(touch, CAPS, now, store), Granted):
            granted.append((touch, now))
    per_day: dict[tuple[str, str], list[str]] = {}
    for touch, now in granted:
        day = datetime.fromtimestamp(now, ZoneInfo("Asia/Shanghai")).date().isoformat()
        per_day.setdefault((touch.person_key, day), []).append(touch.kind)
    for kinds in per_day.values():
        assert len(kinds) <= CAPS.per_user_total_per_day
        assert not ("greeting" in kinds and "reminder" in kinds)
    for key, row in store.rows.items():
        claims = {c.key: c for t, n in granted for c in plan_claims(t, CAPS, n)}
        if key in claims:
            assert row.n <= claims[key].limit


def test_quiet_hours_within_one_day() -> None:
    lunch = QuietHours(start="12:00", end="13:30", channels=["private_message", "live_chat"])
    noon = datetime(2026, 11, 23, 12, 15, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    assert quiet_until(lunch, "live_chat", noon, "Asia/Shanghai") == noon + 75 * 60
    assert quiet_until(lunch, "public_reply", noon, "Asia/Shanghai") is None
    assert quiet_until(lunch, "live_chat", noon + 76 * 60, "Asia/Shanghai") is None


def test_youtube_polling_is_slowed_to_stay_within_the_reading_quota() -> None:
    quota = QuotaSettings()  # 10,000 units, 3,000 for sends, list = 5 units
    assert poll_interval_floor_s(quota) == 86400 / 1400  # ≈ 61.7 s between polls
    assert poll_interval_floor_s(quota, pollers=2) == 2 * 86400 / 1400
    assert round(poll_interval_floor_s(quota, live_hours=3), 1) == 7.7  # a 3-hour broadcast
