"""End-to-end touch stories through the worker and the simulator: caps per viewer, product-aware
replies, delivery echoes (and their absence), and dangerous settings refused at start."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.app import build_app
from bot.cli import main
from bot.connectors.sim import SimSettings, build
from bot.connectors.simkit import Fault
from storage.models import Action
from tests.conftest import REPO_ROOT
from tests.fakes import SubstringMatcher
from tests.helpers import chat, make_config, run_worker, start_sim, wait_for

PRODUCTS = str(REPO_ROOT / "products.toml")


async def test_a_viewer_asks_three_questions_in_a_minute_one_reply_and_the_reason_recorded(
    db_url: str, tmp_path: Path
) -> None:
    sim = await start_sim([chat("u1", "多少钱", nickname="小美"), chat("u1", "几号链接"), chat("u1", "有货吗")], rate=10)
    try:
        app = await run_worker(make_config(db_url, tmp_path, matching={"products": PRODUCTS}), sim, matcher=None)
        async with app.engine.connect() as conn:
            rows = (await conn.execute(select(Action.subtype, Action.status, Action.reason).order_by(Action.id))).all()
        await app.engine.dispose()
    finally:
        await sim.close()
    assert len(sim.state.sends.sends) == 1 and sim.state.sends.sends[0].text.startswith("小美")
    assert [r.subtype for r in rows] == ["price", "link", "stock"]
    assert rows[0].status in ("sent", "delivered")
    for row in rows[1:]:
        assert row.status == "suppressed"
        assert row.reason == "suppressed: reply.cooldown_s=300 (this person got a reply less than 300 s ago)"


async def test_two_viewers_ask_the_price_of_link_3_and_get_product_aware_replies_in_different_words(
    db_url: str, tmp_path: Path
) -> None:
    sim = await start_sim([chat("u1", "3号链接多少钱", nickname="小美"), chat("u2", "3号链接多少钱", nickname="阿杰")], rate=10)
    try:
        app = await run_worker(make_config(db_url, tmp_path, matching={"products": PRODUCTS}), sim, matcher=None)
        await app.engine.dispose()
    finally:
        await sim.close()
    texts = sorted((s.text for s in sim.state.sends.sends), key=lambda t: "阿杰" in t)
    assert len(texts) == 2
    # products.toml: link 3 is the 加绒连帽卫衣 at ¥109
    assert all("¥109" in t and "3号" in t for t in texts), texts
    shapes = {re.sub("小美|阿杰", "{nickname}", t) for t in texts}
    assert len(shapes) == 2, f"the room does not see the same sentence twice: {texts}"


async def test_a_reply_the_platform_never_shows_is_flagged_undelivered(db_url: str, tmp_path: Path) -> None:
    sim = await start_sim([], end_when_done=False)
    sim.state.faults.add(Fault("noecho"))  # the first send is accepted but silently filtered
    config = make_config(db_url, tmp_path, sender={"echo_timeout_s": 1})
    connector = build(SimSettings(base_url=sim.base_url, min_interval_s=0.0), "default")
    app = await build_app(config, connectors=[connector], matcher=SubstringMatcher())
    run = asyncio.create_task(app.worker.run())

    async def statuses() -> dict[str, Any]:
        async with app.engine.connect() as conn:
            return dict((await conn.execute(select(Action.idempotency_key, Action.status))).all())

    try:
        assert sim.state.inject is not None
        await sim.state.inject({"type": "chat", "user_id": "u1", "nickname": "小美", "text": "多少钱"})
        assert await wait_for(lambda: _has_status(statuses, "sent"), within_s=10)
        await sim.state.inject({"type": "chat", "user_id": "u2", "nickname": "阿杰", "text": "几号链接"})
        assert await wait_for(lambda: _has_status(statuses, "undelivered"), within_s=15)
        assert await wait_for(lambda: _has_status(statuses, "delivered"), within_s=10)
        async with app.engine.connect() as conn:
            rows = (await conn.execute(select(Action.text, Action.status, Action.reason).order_by(Action.id))).all()
    finally:
        app.worker.request_stop()
        await asyncio.wait_for(run, 30)
        await app.engine.dispose()
        await sim.close()
    assert [r.status for r in rows] == ["undelivered", "delivered"]
    assert rows[0].reason == "no echo from the platform: probably filtered"
    assert len(sim.state.sends.sends) == 2


def test_leadbot_run_refuses_dangerous_settings_with_exit_2_and_names_the_key(tmp_path: Path, capsys: Any) -> None:
    config = tmp_path / "config.toml"
    for section, problem in (
        ("[caps.reply]\nper_user_per_day = 50\n", "caps.reply.per_user_per_day = 50: above the safe maximum of 5"),
        ("[greetings]\non_member_join = true\n", "greetings.on_member_join = True: greeting on every room entry"),
        ('[caps.rates."bilibili.live_chat"]\ninterval_s = 0\n', "0 s spacing means no rate limit at all"),
        ('[caps.rates."douyin.live_chat"]\ninterval_s = 1\n', "faster than the platform tolerates"),
    ):
        config.write_text(
            f'{section}\n[[connectors]]\ntype = "sim"\nbase_url = "http://127.0.0.1:9"\n', encoding="utf-8"
        )
        assert main(["-c", str(config), "run"]) == 2
        err = capsys.readouterr().err
        assert "config error" in err and problem in err, err


async def _has_status(get: Any, status: str) -> bool:
    return status in (await get()).values()
