"""Source leases: workers split the sources fairly, a dead worker's sources move, and a worker
that lost a lease can neither write that source's events nor move its cursor."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.config import ConfigError, parse_settings
from storage import migrate
from storage.db import create_engine
from storage.leases import LeaseBook, LeaseLost
from storage.models import Message, SourceCursor, SourceLease
from storage.records import Batch, CursorUpdate, MessageRecord, PersonRef
from storage.repository import Repository

ROOMS = [f"sim:room:r{n}" for n in range(10)]


async def _book(db_url: str) -> tuple[LeaseBook, Repository]:
    engine = create_engine(db_url)
    await migrate.upgrade(engine)
    return LeaseBook(engine), Repository(engine)


async def test_three_workers_split_ten_sources_fairly_and_never_share_one(db_url: str) -> None:
    book, repo = await _book(db_url)
    try:
        for _ in range(3):  # the first worker takes everything, then gives back as others join
            for owner in ("a", "b", "c"):
                await book.sync(owner, ROOMS, lease_s=30)
        owners = await book.owners()
        held = {
            owner: {key for key, (who, expires) in owners.items() if who == owner and key in ROOMS and expires > 0}
            for owner in "abc"
        }
        assert all(1 <= len(keys) <= 4 for keys in held.values()), "fair share: at most ceil(10 / 3) each"
        assert set().union(*held.values()) == set(ROOMS), "every source has an owner"
        assert sum(len(keys) for keys in held.values()) == len(ROOMS), "no source has two owners"
    finally:
        await repo.engine.dispose()


async def test_a_dead_workers_sources_are_taken_over_after_the_lease_expires(db_url: str) -> None:
    book, repo = await _book(db_url)
    try:
        await book.sync("a", ROOMS[:2], lease_s=1)
        state_b = await book.sync("b", ROOMS[:2], lease_s=1)
        assert state_b.held == frozenset(), "a's leases are still valid"
        await asyncio.sleep(1.2)  # a died: no renewal
        state_b = await book.sync("b", ROOMS[:2], lease_s=30)
        assert state_b.held == frozenset(ROOMS[:2]) and state_b.claimed == state_b.held
        state_a = await book.sync("a", ROOMS[:2], lease_s=30)  # a comes back: it lost them
        assert state_a.held == frozenset()
    finally:
        await repo.engine.dispose()


def _batch(source: str, cursor: str, mid: str) -> Batch:
    person = PersonRef("sim", "u1", "小美")
    message = MessageRecord("sim", mid, person, "sim:live:r0", "chat", "多少钱", 1.0, 1.0)
    return Batch(messages=[message], cursors={source: CursorUpdate(source, cursor, 1)})


async def test_a_worker_that_lost_its_lease_cannot_write_events_or_move_the_cursor(db_url: str) -> None:
    book, repo = await _book(db_url)
    source = ROOMS[0]
    try:
        await book.sync("a", [source], lease_s=30)
        await repo.write_batch(_batch(source, "5", "m1"), lease_owner="a")
        async with repo.engine.begin() as conn:  # a's lease runs out; b takes the source
            await conn.execute(update(SourceLease).where(SourceLease.source_key == source).values(expires_at=0.0))
        assert (await book.sync("b", [source], lease_s=30)).held == {source}
        with pytest.raises(LeaseLost) as lost:
            await repo.write_batch(_batch(source, "9", "m2"), lease_owner="a")
        assert lost.value.keys == {source}
        await repo.write_batch(_batch(source, "6", "m3"), lease_owner="b")
        async with repo.engine.connect() as conn:
            cursor = (await conn.execute(select(SourceCursor.cursor))).scalar_one()
            ids = set((await conn.execute(select(Message.platform_msg_id))).scalars())
            total = (await conn.execute(select(func.count()).select_from(Message))).scalar_one()
        assert cursor == "6", "the stale worker's cursor 9 was never written"
        assert ids == {"m1", "m3"} and total == 2
    finally:
        await repo.engine.dispose()


def test_renewing_less_often_than_half_the_lease_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings({"workers": {"lease_s": 10, "renew_every_s": 6}}, "config.toml")
    assert "renew_every_s" in str(error.value) and "half of lease_s" in str(error.value)


class _Pushed:
    """A webhook source: only the worker whose server received the call can read it."""

    local = True

    def __init__(self, key: str) -> None:
        self.key = key

    async def stream(self, cursor: str | None):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()
        yield  # pragma: no cover


class _Polled:
    def __init__(self, key: str) -> None:
        self.key = key

    async def stream(self, cursor: str | None):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()
        yield  # pragma: no cover


async def test_every_worker_reads_its_own_webhooks_without_a_lease_and_writes_them(db_url: str) -> None:
    from bot.leasing import LeaseOptions, SourceAssigner

    book, repo = await _book(db_url)
    hook = "douyin_open:webhook:shop"
    started: dict[str, list[str]] = {"a": [], "b": []}

    def reader(owner: str):  # type: ignore[no-untyped-def]
        async def read(source, epoch: int) -> None:  # type: ignore[no-untyped-def]
            started[owner].append(source.key)
            await asyncio.Event().wait()

        return read

    assigners = {
        owner: SourceAssigner([_Pushed(hook), _Polled(ROOMS[0])], book, owner, reader(owner), LeaseOptions(lease_s=30))
        for owner in ("a", "b")
    }
    try:
        for _ in range(2):
            for assigner in assigners.values():
                assert await assigner.sync_once()
        await asyncio.sleep(0.05)
        assert started["a"].count(hook) == 1 and started["b"].count(hook) == 1, "both read what reaches them"
        assert sum(ROOMS[0] in keys for keys in started.values()) == 1, "the polled room still has one reader"
        assert hook not in await book.owners(), "no lease is taken for a webhook source"
        for owner, assigner in assigners.items():
            assert assigner.is_current(hook, assigner.epochs[hook])
            batch = _batch(hook, None, f"dm-{owner}")  # type: ignore[arg-type]
            await repo.write_batch(batch, lease_owner=owner, unleased=assigner.local)  # not fenced
        with pytest.raises(LeaseLost):
            await repo.write_batch(_batch(hook, None, "dm-x"), lease_owner="a")  # type: ignore[arg-type]
    finally:
        for assigner in assigners.values():
            await assigner.stop()
        await repo.engine.dispose()
