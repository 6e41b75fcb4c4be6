"""Three workers share one PostgreSQL database and twenty live rooms; one is killed with
SIGKILL mid-run. Every message is stored once, every lead once, no cap is exceeded, no reply
goes out twice and none is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from bot.connectors.replay.script import demo_script
from storage.db import create_engine
from storage.models import Action, CapCounter, Lead, Message, SourceCursor, SourceLease
from tests.helpers import start_sim

REPO = Path(__file__).resolve().parents[1]
ROOMS = [f"room-{n:02d}" for n in range(20)]
PER_USER_TOTAL = 2
LEASE_S = 2.0


def _config(tmp_path: Path, db_url: str, base_url: str) -> Path:
    rooms = ", ".join(f'"{room}"' for room in ROOMS)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[database]
url = "{db_url}"
flush_interval_ms = 20
[sender]
poll_interval_ms = 20
claim_timeout_s = 2
[workers]
lease_s = {LEASE_S}
renew_every_s = 0.5
[caps]
per_user_total_per_day = {PER_USER_TOTAL}
[caps.reply]
per_user_per_day = 1
[[connectors]]
type = "sim"
base_url = "{base_url}"
rooms = [{rooms}]
min_interval_s = 0
""",
        encoding="utf-8",
    )
    return path


async def _scalar(engine: object, stmt: object) -> int:
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        return int((await conn.execute(stmt)).scalar_one())


async def test_three_workers_one_killed_every_message_once_no_cap_exceeded_no_send_twice_or_lost(
    pg_url: str, tmp_path: Path
) -> None:
    script, _ = demo_script(2400, ROOMS, seed=5, follow_ratio=0.02)
    chat_ids = {line.message_id for line in script if line.kind == "chat"}
    sim = await start_sim(script, rooms=ROOMS, rate=300.0)  # ~8 s of chat over 20 rooms
    config = _config(tmp_path, pg_url, sim.base_url)
    env = {**os.environ, "PYTHONPATH": str(REPO), "LEADBOT_FAULTPOINTS": ""}
    logs = [tmp_path / f"worker{n}.log" for n in range(3)]
    workers = []
    for log in logs:
        with log.open("wb") as out:
            workers.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot.cli", "--config", str(config), "run",
                    stdout=out, stderr=asyncio.subprocess.STDOUT, env=env, cwd=tmp_path,
                )
            )  # fmt: skip
    engine = create_engine(pg_url)
    victim_rooms: set[str] = set()
    try:
        deadline = time.monotonic() + 45
        stored, owners, leases = 0, Counter[str](), []
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            try:
                stored = await _scalar(engine, select(func.count()).select_from(Message).where(Message.is_self.is_(False)))
                async with engine.connect() as conn:
                    leases = (
                        await conn.execute(
                            select(SourceLease.source_key, SourceLease.owner).where(SourceLease.expires_at > time.time())
                        )
                    ).all()
            except Exception:  # schema not created yet
                continue
            owners = Counter(owner for key, owner in leases if not key.startswith("@"))
            if len(owners) == 3 and sum(owners.values()) == len(ROOMS) and stored >= len(chat_ids) // 4:
                break
        assert len(owners) == 3, f"the rooms are split between the three workers: {owners}"
        assert stored < len(chat_ids), "the kill must happen mid-run"
        victim = workers[0]
        victim_id = next(owner for owner in owners if owner.endswith(f"-{victim.pid}"))
        victim_rooms = {key for key, owner in leases if owner == victim_id and not key.startswith("@")}
        victim.send_signal(signal.SIGKILL)
        await victim.wait()

        # Wait until every chat message is stored and nothing is left to send.
        unsent = stored = -1
        while time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            async with engine.connect() as conn:
                stored = (
                    await conn.execute(select(func.count()).select_from(Message).where(Message.is_self.is_(False)))
                ).scalar_one()
                unsent = (
                    await conn.execute(
                        select(func.count()).select_from(Action).where(Action.status.in_(("pending", "sending")))
                    )
                ).scalar_one()
            if stored == len(chat_ids) and unsent == 0:
                break
        if stored != len(chat_ids):
            async with engine.connect() as conn:
                have = set((await conn.execute(select(Message.platform_msg_id))).scalars())
                room_lines: dict[str, list[str]] = {}
                for line in script:
                    room_lines.setdefault(line.room, []).append(line.message_id)
                missing = {
                    room: [(lines.index(mid), len(lines)) for mid in lines if mid in chat_ids and mid not in have]
                    for room, lines in room_lines.items()
                }
                missing = {room: where for room, where in missing.items() if where}
                per_room = dict((await conn.execute(select(Message.origin, func.count()).group_by(Message.origin))).all())
                cursors = dict((await conn.execute(select(SourceCursor.source_key, SourceCursor.cursor))).all())
                held = (await conn.execute(select(SourceLease.source_key, SourceLease.owner, SourceLease.expires_at))).all()
            expected = Counter(line.room for line in script if line.kind == "chat")
            raise AssertionError(
                f"{stored} of {len(chat_ids)} messages stored before the deadline; missing (index in room, of) {missing}; "
                f"simulator streams of those rooms {[s for s in sim.state.streams if s['room'] in missing]}; "
                f"per room stored {per_room}, "
                f"expected {expected}, cursors {cursors}, leases {held} at {time.time()}"
            )
        assert unsent == 0, "every decided reply was sent (the dead worker's claims were retried)"
        for worker in workers[1:]:
            worker.send_signal(signal.SIGTERM)
        for worker in workers[1:]:
            assert await asyncio.wait_for(worker.wait(), timeout=20) == 0

        async with engine.connect() as conn:
            stored_ids = (
                await conn.execute(select(Message.platform_msg_id).where(Message.is_self.is_(False)))
            ).scalars().all()
            lead_authors = (await conn.execute(select(Lead.author_id))).scalars().all()
            sent = (
                await conn.execute(
                    select(Action.author_id, Action.kind, Action.subtype, Action.idempotency_key).where(
                        Action.status.in_(("sent", "delivered", "undelivered"))
                    )
                )
            ).all()
            statuses = Counter((await conn.execute(select(Action.status))).scalars().all())
            over_cap = (await conn.execute(select(func.count()).select_from(CapCounter).where(CapCounter.count > CapCounter.cap))).scalar_one()
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        await engine.dispose()
        await sim.close()

    # every message processed once
    assert Counter(stored_ids) == Counter(chat_ids), "each simulator message id exactly once in messages"
    # every lead once
    assert len(lead_authors) == len(set(lead_authors)) and lead_authors, "one lead per person"
    # no cap exceeded
    assert over_cap == 0
    # Batched room greetings name several people and carry no author: they are room-level sends
    # (each greetee's person-level claim is in cap_counters, checked by over_cap above).
    per_person = Counter(author for author, _, _, _ in sent if author is not None)
    assert max(per_person.values()) <= PER_USER_TOTAL, "per_user_total_per_day held across workers"
    per_subtype = Counter((author, kind, subtype) for author, kind, subtype, _ in sent if kind == "reply")
    assert max(per_subtype.values()) <= 1, "one reply per person per intent per day, across workers"
    # no action sent twice, none lost
    platform_keys = [send.idempotency_key for send in sim.state.sends.sends]
    assert len(platform_keys) == len(set(platform_keys)), "one platform copy per key"
    assert sorted(platform_keys) == sorted(key for _, _, _, key in sent), "what the platform got is what we recorded"
    assert statuses["failed"] == 0 and statuses["pending"] == 0 and statuses["sending"] == 0, statuses
    # the killed worker's rooms were taken over and read by the survivors
    survivor_logs = "".join(log.read_text(errors="replace") for log in logs[1:])
    assert victim_rooms and all(f"reading sim:room:{room.split(':')[-1]} " in survivor_logs for room in victim_rooms)
