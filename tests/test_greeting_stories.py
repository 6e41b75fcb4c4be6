"""Follow greetings end to end through the worker and the simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from handlers.context import CapsPolicy, DecisionContext
from handlers.events import Follow, Origin, Viewer
from handlers.follows import router as follows_router
from handlers.settings import CapsSettings, GreetingsSettings
from replies.render import ReplyBook, default_template_paths
from storage.models import Action
from tests.helpers import follow, make_config, run_worker, start_sim

NAMES = ["小红", "阿强", "糖糖", "Momo", "大熊", "小鱼儿", "阿杰", "七七", "小满", "豆豆"]


async def test_a_burst_of_50_follows_in_10_s_becomes_a_few_batched_greetings_nobody_greeted_twice(
    db_url: str, tmp_path: Path
) -> None:
    nick = {f"f{i}": f"{NAMES[i % 10]}{i}" for i in range(50)}
    lines = [follow(user, name) for user, name in nick.items()]
    lines.insert(25, follow("f3", nick["f3"], mid="refollow-f3"))  # unfollowed and followed again
    sim = await start_sim(lines, rate=5.1)  # 51 follows in 10 s
    try:
        app = await run_worker(make_config(db_url, tmp_path), sim)
        async with app.engine.connect() as conn:
            rows = (
                await conn.execute(select(Action.subtype, Action.status, Action.reason, Action.idempotency_key).where(Action.kind == "greeting"))
            ).all()
        await app.engine.dispose()
    finally:
        await sim.close()
    sends = [s for s in sim.state.sends.sends if s.channel == "live_chat"]
    # A few chat messages, each naming several followers, within the room budget (3 per 60 s window).
    assert 1 <= len(sends) <= 6
    per_window = Counter(int(s.ts // 60) for s in sends)
    assert max(per_window.values()) <= 3, per_window
    assert all("、" in s.text for s in sends), [s.text for s in sends]
    named = [name for s in sends for name in s.text.split(" ")[1].split("、")]  # "欢迎 A、B、C 关注！"
    assert set(named) <= set(nick.values()), named
    assert len(named) == len(set(named)), "nobody is greeted twice"
    assert sim.state.sends.duplicates == 0
    people = [r for r in rows if r.subtype == "follow"]
    batches = [r for r in rows if r.subtype == "batch"]
    statuses = Counter(r.status for r in people)
    # Every follow has a row and an outcome; none is left waiting in a batch.
    assert len(people) == 51 and statuses["batched"] == 0, statuses
    assert statuses["included"] == len(named), (statuses, named)
    refollow = next(r for r in people if r.idempotency_key.endswith(":refollow-f3"))
    assert refollow.status == "suppressed" and "greetings.period_days=0" in refollow.reason
    room_refusals = [r for r in people if r.status == "suppressed" and "greeting.per_room" in r.reason]
    assert len(room_refusals) == 50 - len(named), "the rest are recorded with the room budget as the reason"
    assert sum(1 for b in batches if b.status in ("sent", "delivered")) == len(sends)
    assert all("greeting.per_room=3/60s" in b.reason for b in batches if b.status == "suppressed")


async def test_a_private_greeting_where_the_platform_allows_it(db_url: str, tmp_path: Path) -> None:
    sim = await start_sim([follow("u1", "小美"), follow("u2", "阿杰")])
    try:
        config = make_config(db_url, tmp_path, greetings={"channels": ["private_message"]})
        app = await run_worker(config, sim)
        await app.engine.dispose()
    finally:
        await sim.close()
    sends = sorted(sim.state.sends.sends, key=lambda s: s.recipient or "")
    assert [(s.channel, s.recipient) for s in sends] == [("private_message", "u1"), ("private_message", "u2")]
    assert "小美" in sends[0].text and "阿杰" in sends[1].text


def test_where_the_platform_forbids_private_messages_the_follow_is_skipped_with_the_rule() -> None:
    book = ReplyBook.load(default_template_paths("zh"))
    context = DecisionContext(
        now=time.time(),
        shadow=False,
        book=book,
        caps=CapsPolicy(CapsSettings()),
        greetings=GreetingsSettings(channels=["private_message"]),
    )
    event = Follow(Origin("douyin", "shop", "live", "7301"), "f1", Viewer("douyin", "42", "小美"), time.time())
    (action,) = follows_router.dispatch(event, context)
    assert action.status == "skipped"
    assert action.reason == "skipped: douyin: no private messages via the API"
    assert action.text == "" and action.claims == ()


async def test_followers_granted_before_a_crash_are_greeted_after_the_restart(db_url: str, tmp_path: Path) -> None:
    from bot.app import open_repository
    from storage.records import ActionRecord, Batch, PersonRef

    config = make_config(db_url, tmp_path)
    engine, repository = await open_repository(config)
    left = [
        ActionRecord(
            kind="greeting", subtype="follow", channel="live_chat", platform="sim", account="default",
            target="room-1", text="", idempotency_key=f"greet:sim:default:sim:{user}:f-{user}",
            person=PersonRef("sim", user, name), status="batched",
        )
        for user, name in (("u1", "小美"), ("u2", "阿杰"))
    ]
    await repository.write_batch(Batch(actions=left))  # what a killed worker left: claims granted, not greeted yet
    await engine.dispose()
    sim = await start_sim([])
    try:
        app = await run_worker(config, sim)
        async with app.engine.connect() as conn:
            statuses = (await conn.execute(select(Action.status).where(Action.subtype == "follow"))).scalars().all()
        await app.engine.dispose()
    finally:
        await sim.close()
    (greeting,) = [s.text for s in sim.state.sends.sends]
    assert "小美、阿杰" in greeting
    assert statuses == ["included", "included"]
