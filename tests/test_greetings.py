"""Follow greetings: once per person, batched in the live room within its budget, DMs only where allowed."""

from __future__ import annotations

import random
from collections.abc import Sequence

from handlers.caps import Granted, MemoryCounterStore, SendQueue, Suppressed, TokenBucket, Touch, decide
from handlers.caps.scheduler import PendingTouch
from handlers.dm_rules import DmState
from handlers.events import Follow, Origin, Viewer
from handlers.greetings import Greetee, GreetingBatcher, GreetingPlan, Skipped, plan_greeting
from handlers.settings import CapsSettings, GreetingsSettings
from replies.render import Rendered, ReplyBook, ReplyContext, default_template_paths

T0 = 1_795_420_800.0  # 2026-11-23 16:00 Asia/Shanghai
BOOK = ReplyBook.load(default_template_paths("zh"))
NAMES = ["小红", "阿强", "糖糖", "Momo", "大熊", "小鱼儿", "阿杰", "七七", "小满", "豆豆"]


def follow(i: int, platform: str = "bilibili", kind: str = "live", ts: float = T0, name: str | None = None) -> Follow:
    origin = Origin(platform, "shop", kind, "21452505")  # type: ignore[arg-type]
    viewer = Viewer(platform, str(1000 + i), name or f"{NAMES[i % len(NAMES)]}{i}")
    return Follow(origin, f"f{i}", viewer, ts)


def run_room(follows: Sequence[Follow], platform: str, caps: CapsSettings, store: MemoryCounterStore) -> tuple[list[str], list[str]]:
    """The wiring the pipeline does: plan → person caps → batcher → room caps → render."""
    greetings = GreetingsSettings()
    batcher = GreetingBatcher(
        platform, "shop", "21452505", greetings,
        fits=lambda names: BOOK.fits("greeting_batch", "live_chat", platform, ReplyContext(names=names)),
    )
    texts: list[str] = []
    reasons: list[str] = []
    last: list[str] = []

    def emit(batches: list, now: float) -> None:
        for batch in batches:
            verdict = decide(batch.touch(), caps, now, store)
            if isinstance(verdict, Suppressed):
                reasons.append(f"{len(batch.greetees)} names: {verdict.reason}")
                continue
            result = BOOK.render("greeting_batch", "live_chat", platform, batch.context(), avoid=last[-3:], key=batch.key)
            assert isinstance(result, Rendered), result
            texts.append(result.text)
            last.append(result.text)

    now = T0
    for f in follows:
        now = f.ts
        emit(batcher.due(now), now)
        plan = plan_greeting(f, greetings, now)
        assert isinstance(plan, GreetingPlan) and plan.batched
        verdict = decide(plan.touch, caps, now, store, extra_claims=plan.claims)
        if isinstance(verdict, Suppressed):
            reasons.append(verdict.reason)
            continue
        emit(batcher.add(Greetee.of(f), now), now)
    emit(batcher.due(now + 60), now + 5)
    return texts, reasons


def test_a_burst_of_50_follows_in_10_seconds_becomes_a_few_batched_greetings_within_the_room_budget() -> None:
    caps, store = CapsSettings(), MemoryCounterStore()
    follows = [follow(i, ts=T0 + i * 0.2) for i in range(50)]
    texts, reasons = run_room(follows, "bilibili", caps, store)
    assert 1 <= len(texts) <= caps.greeting.per_room.count  # type: ignore[union-attr]
    assert all(len(t) <= 20 for t in texts)  # Bilibili danmaku limit
    assert all("、" in t for t in texts)  # several names per message
    assert any("greeting.per_room=3/60s reached" in r for r in reasons)
    assert len(set(texts)) == len(texts)


def test_douyin_batches_more_names_per_message() -> None:
    follows = [follow(i, platform="douyin", ts=T0 + i * 0.2) for i in range(50)]
    texts, _ = run_room(follows, "douyin", CapsSettings(), MemoryCounterStore())
    assert len(texts) == 3
    assert all(t.count("、") == 4 for t in texts)  # batch_max_names = 5


def test_slow_follows_are_greeted_after_the_batch_window() -> None:
    follows = [follow(0, ts=T0), follow(1, ts=T0 + 30)]
    texts, _ = run_room(follows, "bilibili", CapsSettings(), MemoryCounterStore())
    assert len(texts) == 2 and "小红0" in texts[0] and "阿强1" in texts[1]


def test_a_re_follow_is_never_greeted_again() -> None:
    caps, store = CapsSettings(), MemoryCounterStore()
    first, _ = run_room([follow(1, ts=T0)], "bilibili", caps, store)
    # Unfollowed and followed again three days later: still no greeting (default: once ever).
    again, reasons = run_room([follow(1, ts=T0 + 3 * 86400)], "bilibili", caps, store)
    assert len(first) == 1 and again == []
    assert reasons == ["suppressed: greetings.period_days=0 (once ever per account; already greeted)"]


def test_with_a_period_a_person_can_be_greeted_again_after_it() -> None:
    settings = GreetingsSettings(period_days=30)
    store, caps = MemoryCounterStore(), CapsSettings()
    for days, expected in ((0, Granted), (10, Suppressed), (31, Granted)):
        plan = plan_greeting(follow(1, ts=T0 + days * 86400), settings, T0 + days * 86400)
        assert isinstance(plan, GreetingPlan)
        assert isinstance(decide(plan.touch, caps, T0 + days * 86400, store, extra_claims=plan.claims), expected)


def test_a_batcher_never_names_one_person_twice_and_respects_the_length_limit() -> None:
    batcher = GreetingBatcher("bilibili", "shop", "r", GreetingsSettings(batch_max_names=10), fits=lambda n: len("、".join(n)) <= 8)
    out = []
    for i, name in enumerate(["甲甲", "甲甲", "乙乙", "丙丙", "丁丁"]):
        out += batcher.add(Greetee(f"p{name}", name, f"e{i}"), T0 + i * 0.1)
    out += batcher.flush()
    assert [[g.nickname for g in b.greetees] for b in out] == [["甲甲", "乙乙", "丙丙"], ["丁丁"]]
    assert out[0].key == "greet-batch:bilibili:shop:r:e0"


def test_follow_greeting_as_a_private_message_follows_the_platform_rules() -> None:
    dm_first = GreetingsSettings(channels=["private_message"])
    # Bilibili: a follower may be messaged (21047 only limits strangers).
    plan = plan_greeting(follow(1, kind="dm"), dm_first, T0)
    assert isinstance(plan, GreetingPlan) and plan.touch.channel == "private_message" and plan.touch.target == "1001"
    # Douyin Open: only inside a window opened by the person.
    closed = plan_greeting(follow(2, platform="douyin_open", kind="dm"), dm_first, T0)
    assert isinstance(closed, Skipped) and "no DM window" in closed.reason
    opened = plan_greeting(follow(2, platform="douyin_open", kind="dm"), dm_first, T0, DmState(window_until=T0 + 3600))
    assert isinstance(opened, GreetingPlan) and "24 h reply window" in opened.why
    # YouTube: no DMs at all.
    none = plan_greeting(follow(3, platform="youtube", kind="dm"), dm_first, T0)
    assert isinstance(none, Skipped) and none.reason == "youtube: no private messages via the API"


def test_live_chat_first_then_dm_fallback_outside_live_rooms() -> None:
    both = GreetingsSettings(channels=["live_chat", "private_message"])
    in_room = plan_greeting(follow(1), both, T0)
    assert isinstance(in_room, GreetingPlan) and in_room.batched
    account_follow = plan_greeting(follow(1, kind="video"), both, T0)
    assert isinstance(account_follow, GreetingPlan) and account_follow.touch.channel == "private_message"


def test_anonymous_followers_are_not_greeted() -> None:
    masked = Follow(Origin("bilibili", "shop", "live", "1"), "f", Viewer("bilibili", "0", "***"), T0)
    result = plan_greeting(masked, GreetingsSettings(), T0)
    assert isinstance(result, Skipped) and "anonymous" in result.reason


def test_batched_greetings_are_paced_after_replies_in_the_send_queue() -> None:
    caps = CapsSettings()
    queue = SendQueue(TokenBucket.from_settings(caps.rate_for("bilibili", "live_chat"), random.Random(1)), caps)
    batcher = GreetingBatcher("bilibili", "shop", "r", GreetingsSettings(batch_max_names=2))
    batches = []
    for i in range(4):
        batches += batcher.add(Greetee(f"p{i}", f"n{i}", f"e{i}"), T0)
    for b in batches:
        queue.push(PendingTouch(b.touch(), b.key, T0))
    lead_reply = Touch("reply", "price", "bilibili:5", "bilibili", "shop", "live_chat", "r")
    queue.push(PendingTouch(lead_reply, "reply-1", T0 + 0.5))
    sent, _, wake = queue.release(T0 + 1)
    assert [p.key for p in sent] == ["reply-1"]  # the lead's answer goes before the greetings
    assert wake is not None and wake >= T0 + 1 + 1.5
    sent, _, _ = queue.release(wake)
    assert [p.key for p in sent] == [batches[0].key]
