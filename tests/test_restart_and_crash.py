"""Restarts and kill -9: the cursor resumes exactly, and every decided send goes out once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from bot.app import build_app
from bot.connectors.sim import SimSettings, build
from storage.models import Action, Message, SourceCursor
from tests.fakes import SubstringMatcher
from tests.helpers import chat, make_config, start_sim

REPO = Path(__file__).resolve().parents[1]


async def test_restart_mid_replay_resumes_from_cursor_without_duplicates_or_gaps(db_url: str, tmp_path: Path) -> None:
    lines = [chat(f"u{i % 40}", f"第{i}条 多少钱" if i % 7 == 0 else f"第{i}条 弹幕") for i in range(300)]
    sim = await start_sim(lines, rate=120.0)  # slow enough that the stop lands mid-replay on a busy machine
    config = make_config(db_url, tmp_path)
    try:
        first = await build_app(
            config,
            exit_when_idle=True,
            connectors=[build(SimSettings(base_url=sim.base_url, rooms=["room-1"]), "default")],
            matcher=SubstringMatcher(),
        )

        async def stop_midway() -> None:
            while first.worker.metrics.messages_read < 60:  # noqa: ASYNC110 - polling a counter
                await asyncio.sleep(0.01)
            first.worker.request_stop()

        stopper = asyncio.create_task(stop_midway())
        await asyncio.wait_for(first.worker.run(), timeout=60)
        await stopper
        read_first = first.worker.metrics.messages_read
        async with first.engine.connect() as conn:
            stored_first = (await conn.execute(select(func.count()).select_from(Message))).scalar_one()
        await first.engine.dispose()
        assert 60 <= read_first < 300, "the first run must stop mid-replay"
        assert stored_first == read_first

        second = await build_app(
            config,
            exit_when_idle=True,
            connectors=[build(SimSettings(base_url=sim.base_url, rooms=["room-1"]), "default")],
            matcher=SubstringMatcher(),
        )
        await asyncio.wait_for(second.worker.run(), timeout=60)
        async with second.engine.connect() as conn:
            texts = (await conn.execute(select(Message.text).where(Message.is_self.is_(False)))).scalars().all()
            cursor = (await conn.execute(select(SourceCursor.cursor))).scalar_one()
        await second.engine.dispose()
    finally:
        await sim.close()
    assert second.worker.metrics.duplicates == 0, "the cursor must resume exactly after the last committed event"
    numbers = sorted(int(text[1 : text.index("条")]) for text in texts)
    assert numbers == list(range(300)), "every message stored exactly once: no gap, no duplicate"
    assert cursor is not None and int(cursor) >= 300


def _write_config(tmp_path: Path, db_url: str, base_url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[database]
url = "{db_url}"
flush_interval_ms = 10
[sender]
poll_interval_ms = 20
claim_timeout_s = 1
[[connectors]]
type = "sim"
base_url = "{base_url}"
rooms = ["room-1"]
min_interval_s = 0
""",
        encoding="utf-8",
    )
    return path


def _leadbot(config: Path, *, faults: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LEADBOT_FAULTPOINTS": faults}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "run", "--exit-when-idle"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_cwd(config),
        timeout=120,
    )


def tmp_cwd(config: Path) -> Path:
    return config.parent


async def _kill_story(db_url: str, tmp_path: Path, fault: str) -> None:
    sim = await start_sim([chat("u1", "多少钱", nickname="小美"), chat("u2", "几号链接", nickname="阿杰"), chat("u3", "好看")])
    try:
        config = _write_config(tmp_path, db_url, sim.base_url)
        crashed = await asyncio.to_thread(_leadbot, config, faults=fault)
        assert crashed.returncode == -9, f"expected SIGKILL at {fault}: {crashed.returncode} {crashed.stderr[-2000:]}"
        sends_before_restart = len(sim.state.sends.sends)
        if fault == "before_send":
            assert sends_before_restart == 0, "killed before the first send: nothing may have left"
        else:
            assert sends_before_restart == 1, "killed right after the first send was accepted"
        if fault == "after_send":
            await asyncio.sleep(1.1)  # the dead worker's claim expires (claim_timeout_s = 1)
        restarted = await asyncio.to_thread(_leadbot, config)
        assert restarted.returncode == 0, restarted.stderr[-3000:]
    finally:
        await sim.close()
    texts = [send.text for send in sim.state.sends.sends]
    keys = [send.idempotency_key for send in sim.state.sends.sends]
    assert len(texts) == 2, f"one reply per asker, exactly once: {texts}"
    assert len(set(keys)) == 2
    assert any(text.startswith("小美") for text in texts) and any(text.startswith("阿杰") for text in texts)
    if fault == "after_send":
        # the re-send after the crash reused the idempotency key, so the platform kept one copy
        assert sim.state.sends.duplicates == 1
    else:
        assert sim.state.sends.duplicates == 0
    from storage.db import create_engine

    engine = create_engine(db_url)
    async with engine.connect() as conn:
        statuses = (await conn.execute(select(Action.status))).scalars().all()
    await engine.dispose()
    assert len(statuses) == 2 and set(statuses) <= {"sent", "delivered"}, statuses


async def test_kill_9_between_outbox_write_and_send_sends_exactly_once(db_url: str, tmp_path: Path) -> None:
    await _kill_story(db_url, tmp_path, "before_send")


async def test_kill_9_between_send_and_confirmation_does_not_duplicate(db_url: str, tmp_path: Path) -> None:
    await _kill_story(db_url, tmp_path, "after_send")


async def test_sigterm_stops_reading_drains_flushes_and_exits_0(sqlite_url: str, tmp_path: Path) -> None:
    import signal
    import time

    from storage.db import create_engine

    lines = [chat(f"u{i % 30}", "多少钱" if i % 5 == 0 else f"弹幕{i}") for i in range(5000)]
    sim = await start_sim(lines, rate=50.0)
    config = _write_config(tmp_path, sqlite_url, sim.base_url)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "--config", str(config), "run",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )
    engine = create_engine(sqlite_url)
    try:
        deadline = time.monotonic() + 60
        stored = 0
        while stored < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            try:
                async with engine.connect() as conn:
                    stored = (await conn.execute(select(func.count()).select_from(Message))).scalar_one()
            except Exception:
                stored = 0
        assert stored >= 20, "the worker should be reading"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 0, stderr.decode()[-3000:]
        assert "leadbot summary" in stdout.decode()
        async with engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(Message))).scalar_one()
            cursor = (await conn.execute(select(SourceCursor.cursor))).scalar_one()
        # everything read before the signal was flushed, and the cursor points right after it
        assert total >= stored
        assert cursor is not None and int(cursor) >= total
        assert len(sim.state.sends.sends) <= total
    finally:
        if process.returncode is None:
            process.kill()
        await engine.dispose()
        await sim.close()
