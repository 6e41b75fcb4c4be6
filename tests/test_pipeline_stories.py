"""End-to-end stories of the pipeline against the built-in simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from storage.models import Action, Lead, MatchRow, Message
from tests.helpers import chat, make_config, run_worker, start_sim


async def test_viewer_asks_price_twice_one_lead_two_matches_one_reply(db_url: str, tmp_path: Path) -> None:
    sim = await start_sim([chat("u1", "多少钱", nickname="小美"), chat("u2", "主播好"), chat("u1", "多少钱呀")])
    try:
        app = await run_worker(make_config(db_url, tmp_path), sim)
        async with app.engine.connect() as conn:
            leads = (await conn.execute(select(func.count()).select_from(Lead))).scalar_one()
            matches = (await conn.execute(select(func.count()).select_from(MatchRow))).scalar_one()
            messages = (await conn.execute(select(func.count()).select_from(Message).where(Message.is_self.is_(False)))).scalar_one()
            actions = (await conn.execute(select(Action.status, Action.reason).order_by(Action.id))).all()
        await app.engine.dispose()
    finally:
        await sim.close()
    assert messages == 3
    assert leads == 1
    assert matches == 2
    statuses = sorted(status for status, _ in actions)
    assert statuses in (["delivered", "suppressed"], ["sent", "suppressed"])
    assert any("reply.per_user_per_day=1" in reason for _, reason in actions)
    assert len(sim.state.sends.sends) == 1
    assert sim.state.sends.sends[0].text.startswith("小美")


async def test_shadow_mode_decides_but_sends_nothing(db_url: str, tmp_path: Path) -> None:
    sim = await start_sim([chat("u1", "多少钱"), chat("u2", "几号链接")])
    try:
        app = await run_worker(make_config(db_url, tmp_path), sim, shadow=True)
        async with app.engine.connect() as conn:
            statuses = (await conn.execute(select(Action.status))).scalars().all()
        await app.engine.dispose()
    finally:
        await sim.close()
    assert sorted(statuses) == ["shadow", "shadow"]
    assert sim.state.sends.sends == []
