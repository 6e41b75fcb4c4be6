"""Caps: pacing per account and channel, priorities when the budget is short (clock injected)."""

from __future__ import annotations

import random

from handlers.caps import PendingTouch, SendQueue, TokenBucket, Touch, pick
from handlers.settings import CapsSettings

T0 = 1_795_420_800.0


def touch(kind: str, person: str) -> Touch:
    return Touch(kind, "x", person, "bilibili", "shop", "live_chat", "room")


def test_bilibili_danmaku_is_paced_by_default_and_never_faster_than_once_a_second() -> None:
    rate = CapsSettings().rate_for("bilibili", "live_chat")
    bucket = TokenBucket.from_settings(rate, random.Random(7))
    sent: list[float] = []
    now = T0
    while len(sent) < 20:
        at = bucket.ready_at(now)
        now = max(now, at)
        if bucket.take(now):
            sent.append(now)
        else:
            now += 0.01
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert min(gaps) >= 1.5 - 1e-6  # interval 1.5 s
    assert max(gaps) <= 2.0 + 1e-6  # + at most 0.5 s jitter
    assert len({round(g, 3) for g in gaps}) > 5  # jitter breaks the regular rhythm


def test_the_same_seed_gives_the_same_schedule() -> None:
    def run(seed: int) -> list[float]:
        bucket = TokenBucket(3.0, 1, 1.0, random.Random(seed))
        times, now = [], T0
        for _ in range(5):
            now = bucket.ready_at(now)
            assert bucket.take(now)
            times.append(now)
        return times

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_douyin_live_chat_defaults_to_one_message_per_three_seconds() -> None:
    rate = CapsSettings().rate_for("douyin", "live_chat")
    assert rate.interval_s >= 3.0
    assert CapsSettings().rate_for("kuaishou", "live_chat").interval_s > 0  # fallback exists


def test_a_rate_limited_answer_from_the_platform_pauses_the_bucket() -> None:
    bucket = TokenBucket(1.0, 3)
    assert bucket.take(T0)
    bucket.penalise(T0, retry_after=30)
    assert bucket.available(T0 + 29) == 0
    assert bucket.ready_at(T0 + 1) == T0 + 30
    assert bucket.take(T0 + 30)


def test_the_interval_counts_from_the_answer_so_a_slow_send_cannot_bunch_up_with_the_next() -> None:
    # The first request takes 0.25 s (cold connection); the platform may receive it at the end.
    bucket = TokenBucket(0.5, 1)
    assert bucket.take(T0)
    bucket.finished(T0 + 0.25)
    assert bucket.ready_at(T0 + 0.5) == T0 + 0.75
    assert not bucket.take(T0 + 0.5)
    assert bucket.take(T0 + 0.75)


def test_no_refill_while_a_send_is_in_flight_even_with_a_burst() -> None:
    bucket = TokenBucket(1.0, 2)
    assert bucket.take(T0)  # one token left
    bucket.finished(T0 + 5)  # a 5 s request does not earn the spent token back
    assert bucket.available(T0 + 5) == 1
    assert bucket.take(T0 + 5)
    bucket.finished(T0 + 5)
    assert bucket.available(T0 + 5.5) == 0
    assert bucket.ready_at(T0 + 5.5) == T0 + 6


def test_finished_keeps_the_jitter_drawn_for_the_send() -> None:
    bucket = TokenBucket(1.0, 1, 0.5, random.Random(3))
    assert bucket.take(T0)
    jitter = bucket.not_before - (T0 + 1.0)
    assert 0 <= jitter < 0.5
    bucket.finished(T0 + 0.2)
    assert abs(bucket.ready_at(T0) - (T0 + 1.2 + jitter)) < 1e-9
    bucket.finished(T0 + 0.9)  # a second call without a send in between changes nothing
    assert abs(bucket.ready_at(T0) - (T0 + 1.2 + jitter)) < 1e-9


def test_when_the_budget_is_short_replies_go_first_then_greetings_then_reminders() -> None:
    caps = CapsSettings()
    pending = [
        PendingTouch(touch("reminder", "a"), "k-rem", T0),
        PendingTouch(touch("greeting", "b"), "k-greet", T0 + 1),
        PendingTouch(touch("reply", "c"), "k-reply-late", T0 + 2),
        PendingTouch(touch("reply", "d"), "k-reply-early", T0 + 1.5),
    ]
    result = pick(pending, 2, T0 + 3, caps)
    assert [p.key for p in result.send] == ["k-reply-early", "k-reply-late"]
    assert [p.key for p in result.wait] == ["k-greet", "k-rem"]
    result = pick(pending, 3, T0 + 3, caps)
    assert [p.key for p in result.send] == ["k-reply-early", "k-reply-late", "k-greet"]


def test_a_live_chat_reply_that_waited_too_long_is_dropped_as_stale() -> None:
    caps = CapsSettings()
    old = PendingTouch(touch("reply", "a"), "old", T0)
    result = pick([old], 5, T0 + 121, caps)
    assert result.send == () and result.dropped[0].reason == "stale: waited longer than caps.reply.max_wait_s=120"


def test_a_send_queue_releases_in_priority_order_at_the_bucket_pace() -> None:
    caps = CapsSettings()
    queue = SendQueue(TokenBucket(3.0, 1, 0.0), caps)
    for i in range(3):
        queue.push(PendingTouch(touch("greeting", f"g{i}"), f"greet-{i}", T0 + i * 0.1))
        queue.push(PendingTouch(touch("reply", f"r{i}"), f"reply-{i}", T0 + i * 0.1 + 0.05))
    released: list[str] = []
    now = T0 + 1
    while len(queue):
        send, dropped, wake = queue.release(now)
        released += [p.key for p in send]
        assert not dropped
        assert wake is None or wake > now
        now = wake or now
    assert released == ["reply-0", "reply-1", "reply-2", "greet-0", "greet-1", "greet-2"]
    assert now == T0 + 1 + 5 * 3.0
