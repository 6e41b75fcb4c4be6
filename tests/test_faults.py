"""Faults: kill -9 at random points again and again, the database locked or gone, the disk full.
After each story nothing is lost, nothing is stored or sent twice, and the cursor is exact."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import random
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import build_app
from bot.connectors.sim import SimSettings, build
from storage.db import create_engine
from storage.models import Action, Lead, Message, SourceCursor
from tests.fakes import SubstringMatcher
from tests.helpers import RunningSim, chat, make_config, start_sim

ROOMS = ["room-1", "room-2"]
POINTS = ["mid_batch", "mid_write_batch", "after_write_batch", "before_send", "after_send"]


class SimThread:
    """A simulator on its own event loop in a thread, so worker processes can be forked."""

    def __init__(self, lines: list[Any], rooms: list[str]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim: RunningSim = asyncio.run_coroutine_threadsafe(start_sim(lines, rooms=rooms), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _worker_process(db_url: str, base_url: str, tmp: str, faults: str, report: str) -> None:
    """A forked worker: armed with one fault point, killed there by SIGKILL (or finishing)."""
    import bot.faultpoints as faultpoints

    faultpoints._ARMED.clear()
    faultpoints._ARMED.update(faultpoints._parse(faults))
    logging.disable(logging.WARNING)

    async def run() -> None:
        # A stable worker id: the restarted worker takes its own leases back at once (PostgreSQL).
        workers = {"lease_s": 1, "renew_every_s": 0.5, "id": "kill-loop"}
        config = make_config(db_url, Path(tmp), database={"batch_size": 7}, sender={"claim_timeout_s": 0.5}, workers=workers)
        connector = build(SimSettings(base_url=base_url, rooms=ROOMS, min_interval_s=0.0), "default")
        app = await build_app(config, exit_when_idle=True, connectors=[connector], matcher=SubstringMatcher())
        await asyncio.wait_for(app.worker.run(), timeout=60)
        summary = {"read": app.worker.metrics.messages_read, "dup": app.worker.metrics.duplicates}
        Path(report).write_text(json.dumps(summary))  # noqa: ASYNC240 - once, at the end
        await app.engine.dispose()

    asyncio.run(run())


def _run_worker(db_url: str, base_url: str, tmp: Path, faults: str = "") -> tuple[int | None, dict[str, int]]:
    report = tmp / f"report-{time.monotonic_ns()}.json"
    process = multiprocessing.get_context("fork").Process(
        target=_worker_process, args=(db_url, base_url, str(tmp), faults, str(report))
    )
    process.start()
    process.join(90)
    if process.is_alive():
        process.kill()
        process.join()
        pytest.fail(f"worker hung with faults={faults!r}")
    return process.exitcode, (json.loads(report.read_text()) if report.exists() else {})


def _script() -> list[Any]:
    lines = []
    for i in range(160):
        user = f"u{i % 23}"
        text = ("多少钱" if i % 5 == 0 else "几号链接" if i % 7 == 0 else f"弹幕{i}") + f" #{i}"
        lines.append(chat(user, text, room=ROOMS[i % 2], mid=f"m{i}"))
    return lines


def test_twenty_kill_9s_at_random_points_lose_nothing_and_send_nothing_twice(db_url: str, tmp_path: Path) -> None:
    lines = _script()
    sim = SimThread(lines, ROOMS)
    rng = random.Random(20)
    kills, runs, finished = 0, 0, False
    killed_at: Counter[str] = Counter()
    try:
        while kills < 20 or not finished:
            faults = f"{rng.choice(POINTS)}@{rng.randint(1, 3)}" if kills < 20 else ""
            code, _ = _run_worker(db_url, sim.sim.base_url, tmp_path, faults)
            runs += 1
            assert code in (0, -9), f"worker failed with {code} (faults={faults})"
            kills += code == -9
            if code == -9:
                killed_at[faults.partition("@")[0]] += 1
            finished = code == 0 and not faults
            assert runs < 80, "the kill loop should finish"
        assert kills >= 20 and len(killed_at) >= 4, f"killed at several different points: {killed_at}"
        # a clean run after the last one re-reads nothing: the cursor is exactly past the last event
        code, again = _run_worker(db_url, sim.sim.base_url, tmp_path)
        assert code == 0 and again["dup"] == 0
        sends = list(sim.sim.state.sends.sends)
        duplicates = sim.sim.state.sends.duplicates
    finally:
        sim.close()

    async def check() -> None:
        engine = create_engine(db_url)
        async with engine.connect() as conn:
            ids = (await conn.execute(select(Message.platform_msg_id).where(Message.is_self.is_(False)))).scalars().all()
            leads = (await conn.execute(select(func.count()).select_from(Lead))).scalar_one()
            actions = (await conn.execute(select(Action.idempotency_key, Action.status))).all()
            touches = (await conn.execute(select(Action.author_id, Action.subtype, Action.status))).all()
            cursors = dict((await conn.execute(select(SourceCursor.source_key, SourceCursor.cursor))).all())
            sqlite = conn.dialect.name == "sqlite"
            integrity = (await conn.exec_driver_sql("PRAGMA integrity_check")).scalar_one() if sqlite else "ok"
        await engine.dispose()
        assert Counter(ids) == Counter(line.message_id for line in lines), "every message stored exactly once"
        askers = {line.user_id for line in lines if "多少钱" in line.text or "链接" in line.text}
        assert leads == len(askers), "one lead per asker, none lost"
        statuses = Counter(status for _, status in actions)
        assert set(statuses) <= {"sent", "delivered", "suppressed"}, f"nothing pending, failed or lost: {statuses}"
        keys = [send.idempotency_key for send in sends]
        assert len(keys) == len(set(keys)), "one platform copy per idempotency key"
        sent_keys = sorted(key for key, status in actions if status in ("sent", "delivered"))
        assert sorted(keys) == sent_keys, "every decided reply went out, once"
        per_person = Counter((author, subtype) for author, subtype, status in touches if status in ("sent", "delivered"))
        assert per_person and max(per_person.values()) == 1, "at most one reply per person per intent per day"
        # a re-send after a kill between send and confirmation reuses its key: never a second copy
        assert duplicates <= kills
        assert set(cursors) == {f"sim:room:{room}" for room in ROOMS} and all(int(c) > 0 for c in cursors.values())
        assert integrity == "ok"

    asyncio.run(check())


# ---------------------------------------------------------------------- database unavailable
async def _outage_story(config_url: str, tmp_path: Path, cut: Any, heal: Any, caplog: pytest.LogCaptureFixture) -> None:
    lines = [chat(f"u{i % 17}", ("多少钱" if i % 6 == 0 else f"弹幕{i}") + f" #{i}", mid=f"m{i}") for i in range(250)]
    sim = await start_sim(lines, rate=50.0)  # 5 s of chat; the outage sits in the middle
    config = make_config(config_url, tmp_path, database={"busy_timeout_ms": 200}, pipeline={"queue_size": 20})
    connector = build(SimSettings(base_url=sim.base_url, rooms=["room-1"], min_interval_s=0.0), "default")
    app = await build_app(config, exit_when_idle=True, connectors=[connector], matcher=SubstringMatcher())
    seen_unavailable: list[bool] = []
    backlog_full: list[int] = []

    async def outage() -> None:
        while app.worker.metrics.messages_read < 40:  # noqa: ASYNC110 - polling a counter
            await asyncio.sleep(0.02)
        await cut()
        deadline = time.monotonic() + 4.0  # the mechanism does not depend on how long this is
        while time.monotonic() < deadline:
            seen_unavailable.append(not app.worker.metrics.db_available)
            backlog_full.append(app.worker.queue.qsize())
            await asyncio.sleep(0.1)
        stored_during = app.worker.metrics.messages_read
        await heal()
        assert stored_during < 250, "the outage happened mid-replay"

    caplog.set_level(logging.INFO)
    try:
        cutter = asyncio.create_task(outage())
        await asyncio.wait_for(app.worker.run(), timeout=90)
        await cutter
        async with app.engine.connect() as conn:
            ids = (await conn.execute(select(Message.platform_msg_id).where(Message.is_self.is_(False)))).scalars().all()
            statuses = Counter((await conn.execute(select(Action.status))).scalars().all())
        await app.engine.dispose()
    finally:
        await sim.close()
    assert any(seen_unavailable), "metrics.db_available went false during the outage"
    assert max(backlog_full) >= 20, "the bounded queue filled up: the reader waited instead of dropping"
    assert app.worker.metrics.db_errors > 0 and app.worker.metrics.db_available
    assert "database unavailable" in caplog.text and "database available again" in caplog.text
    assert Counter(ids) == Counter(line.message_id for line in lines), "nothing lost, nothing doubled"
    askers = {line.user_id for line in lines if "多少钱" in line.text}
    assert statuses["sent"] + statuses["delivered"] == len(askers), f"one reply per asker (then the cap): {statuses}"
    assert set(statuses) <= {"sent", "delivered", "suppressed"}, f"nothing pending or lost: {statuses}"
    sends = sim.state.sends
    assert len(sends.sends) == len(askers) and sends.duplicates == 0


async def test_sqlite_locked_by_another_process_pauses_reports_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "leadbot.db"
    holder: dict[str, sqlite3.Connection] = {}

    def lock() -> None:
        connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        connection.execute("BEGIN EXCLUSIVE")  # waits for the worker's current write to finish
        holder["conn"] = connection

    def unlock() -> None:
        holder["conn"].execute("COMMIT")
        holder["conn"].close()

    async def cut() -> None:
        await asyncio.to_thread(lock)  # off the loop: the worker shares it and must finish its write

    async def heal() -> None:
        await asyncio.to_thread(unlock)

    await _outage_story(f"sqlite+aiosqlite:///{path}", tmp_path, cut, heal, caplog)


async def test_postgres_refusing_connections_pauses_reports_and_recovers(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncpg

    from tests.conftest import PG_ADMIN_URL

    name = pg_url.rsplit("/", 1)[1]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def cut() -> None:
        await admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")

    async def heal() -> None:
        await admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    await _outage_story(pg_url, tmp_path, cut, heal, caplog)


# ---------------------------------------------------------------------- disk full / read-only
async def _failing_write_story(tmp_path: Path, pragma: str, caplog: pytest.LogCaptureFixture, expected: str) -> None:
    path = tmp_path / "leadbot.db"
    lines = [chat(f"u{i}", f"多少钱 #{i}" if i % 3 == 0 else f"弹幕 {'长' * 200} #{i}", mid=f"m{i}") for i in range(400)]
    sim = await start_sim(lines, rate=100.0)
    config = make_config(f"sqlite+aiosqlite:///{path}", tmp_path)
    connector = build(SimSettings(base_url=sim.base_url, rooms=["room-1"], min_interval_s=0.0), "default")
    app = await build_app(config, exit_when_idle=True, connectors=[connector], matcher=SubstringMatcher())

    caplog.set_level(logging.INFO)
    run = asyncio.create_task(app.worker.run())
    try:
        deadline = time.monotonic() + 20
        while app.worker.metrics.messages_read < 20 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        # SQLite runs on one pooled connection: the limit applies to every write from now on.
        async with app.engine.connect() as conn:
            pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar_one()
            await conn.exec_driver_sql(pragma.format(pages=pages))
        while app.worker.metrics.db_errors < 2 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        app.worker.request_stop()
        await asyncio.sleep(0.5)
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await app.engine.dispose()
        await sim.close()
    assert app.worker.metrics.db_errors >= 2 and not app.worker.metrics.db_available
    assert expected in caplog.text and str(path) in caplog.text, "the log says what is wrong and where"
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = connection.execute("SELECT count(*) FROM messages").fetchone()[0]
        cursor = connection.execute("SELECT max(CAST(cursor AS INTEGER)) FROM source_cursors").fetchone()[0]
    finally:
        connection.close()
    assert cursor is None or int(cursor) <= stored + 2, "the cursor never ran ahead of what was stored"


async def test_disk_full_stops_writing_with_a_clear_error_and_no_corruption(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await _failing_write_story(tmp_path, "PRAGMA max_page_count = {pages}", caplog, "disk is full")


async def test_read_only_database_stops_writing_with_a_clear_error_and_no_corruption(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Tests run as root, where chmod does not stop writes; query_only gives SQLite's own
    # SQLITE_READONLY error, the one a read-only file produces.
    await _failing_write_story(tmp_path, "PRAGMA query_only = ON", caplog, "read-only")


def test_a_database_in_a_missing_folder_is_refused_at_start_with_the_path(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.test_restart_and_crash import REPO

    missing = tmp_path / "no" / "such" / "folder" / "leadbot.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{missing}"\n[[connectors]]\ntype = "sim"\nbase_url = "http://127.0.0.1:9"\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "run"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert str(missing) in result.stderr and "Traceback" not in result.stderr
