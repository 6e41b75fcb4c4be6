"""Source leases: which worker reads which source when several workers share one database.

A lease is a row ``(source_key, owner, expires_at)`` in ``source_leases``. A worker renews
the leases it holds every few seconds; a lease that is not renewed expires and any worker
may claim it, so a dead worker's sources are taken over within one lease period. Workers
announce themselves with a membership row (``@worker:<id>``) in the same table, which gives
the fair share: ``ceil(sources / live workers)`` each, so a new worker gets sources and a
worker holding too many gives the surplus back.

Times are read from the **database clock** (``now()`` on PostgreSQL, ``julianday`` on
SQLite), so workers on machines with skewed clocks still agree on who holds what.

Fencing: ``fence`` locks the caller's lease rows inside the caller's write transaction and
returns the keys it does not hold (any longer). ``Repository.write_batch`` refuses a batch
that carries such a key, so a worker that lost a lease can neither move that source's cursor
nor write its events; a claimer that races with the write waits for the row lock and then
sees the committed cursor.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.models import SourceLease

MEMBER_PREFIX = "@worker:"


class LeaseLost(Exception):
    """The batch carries sources whose lease this worker no longer holds."""

    def __init__(self, keys: Collection[str]) -> None:
        self.keys = frozenset(keys)
        super().__init__(f"lease lost for {', '.join(sorted(self.keys))}")


@dataclass(frozen=True)
class LeaseState:
    held: frozenset[str]
    claimed: frozenset[str]  # newly (re)claimed in this sync: read them from the stored cursor
    workers: int  # live workers, this one included
    share: int  # how many sources this worker may hold now
    db_now: float


def db_now(dialect: str) -> Any:
    """The database's clock as unix seconds (an SQL expression)."""
    if dialect == "postgresql":
        return func.extract("epoch", func.clock_timestamp())
    return text("((julianday('now') - 2440587.5) * 86400.0)")


class LeaseBook:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def _insert(self) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(SourceLease)

    async def sync(
        self,
        owner: str,
        sources: Sequence[str],
        *,
        lease_s: float,
        max_sources: int = 0,
        take_all: bool = False,
    ) -> LeaseState:
        """Heartbeat, renew what we hold, give back the surplus, claim free sources up to our share.

        ``take_all`` (SQLite: one process owns the file) claims every source whatever its lease.
        """
        # 1. One short transaction touching only our own rows: heartbeat, renew, give back the
        #    surplus. Our rows are locked in key order, like ``fence`` does, so the two never deadlock.
        async with self.engine.begin() as conn:
            now = float((await conn.execute(select(db_now(self.dialect)))).scalar_one())
            until = now + lease_s
            await self._upsert(conn, MEMBER_PREFIX + owner, owner, until, now, force=True)
            held = set(
                (
                    await conn.execute(
                        select(SourceLease.source_key)
                        .where(
                            SourceLease.owner == owner,
                            SourceLease.expires_at > now,
                            SourceLease.source_key.in_(list(sources)),
                        )
                        .order_by(SourceLease.source_key)
                        .with_for_update()
                    )
                ).scalars()
            )
            workers = int(
                (
                    await conn.execute(
                        select(func.count())
                        .select_from(SourceLease)
                        .where(SourceLease.source_key.like(MEMBER_PREFIX + "%"), SourceLease.expires_at > now)
                    )
                ).scalar_one()
            )
            share = len(sources) if take_all else math.ceil(len(sources) / max(1, workers))
            if max_sources > 0:
                share = min(share, max_sources)
            surplus = sorted(held)[share:] if len(held) > share else []
            if held:
                await conn.execute(
                    update(SourceLease)
                    .where(SourceLease.owner == owner, SourceLease.source_key.in_(sorted(held)))
                    .values(expires_at=case((SourceLease.source_key.in_(surplus), 0.0), else_=until))
                )
            held -= set(surplus)
            live_elsewhere = set(
                (
                    await conn.execute(
                        select(SourceLease.source_key).where(
                            SourceLease.owner != owner,
                            SourceLease.expires_at > now,
                            SourceLease.source_key.in_(list(sources)),
                        )
                    )
                ).scalars()
            )
        # 2. Claim free sources one short transaction each (never holding one row while waiting
        #    for another). A lease that looks live elsewhere is not even tried.
        claimed: set[str] = set()
        for key in self._claim_order(owner, sources, held | (set() if take_all else live_elsewhere)):
            if len(held) >= share:
                break
            async with self.engine.begin() as conn:
                if await self._upsert(conn, key, owner, until, now, force=take_all):
                    held.add(key)
                    claimed.add(key)
        return LeaseState(frozenset(held), frozenset(claimed), workers, share, now)

    @staticmethod
    def _claim_order(owner: str, sources: Sequence[str], held: set[str]) -> list[str]:
        # Each worker walks the sources from a different starting point, so that workers
        # starting together mostly try different rows instead of queueing on the same ones.
        free = [key for key in sources if key not in held]
        if not free:
            return []
        start = sum(owner.encode()) % len(free)
        return free[start:] + free[:start]

    async def _upsert(self, conn: AsyncConnection, key: str, owner: str, until: float, now: float, *, force: bool) -> bool:
        stmt = self._insert().values(source_key=key, owner=owner, expires_at=until)
        table = SourceLease.__table__
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.source_key],
            set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
            where=(literal(True) if force else table.c.expires_at <= db_now(self.dialect)),
        ).returning(table.c.source_key)
        return (await conn.execute(stmt)).first() is not None

    async def fence(self, conn: AsyncConnection, owner: str, keys: Collection[str]) -> set[str]:
        """Inside the caller's transaction: lock our live leases on ``keys``; return the keys not held."""
        if not keys:
            return set()
        rows = await conn.execute(
            select(SourceLease.source_key)
            .where(
                SourceLease.owner == owner,
                SourceLease.expires_at > db_now(self.dialect),
                SourceLease.source_key.in_(sorted(keys)),
            )
            .order_by(SourceLease.source_key)
            .with_for_update()
        )
        return set(keys) - set(rows.scalars())

    async def release(self, owner: str, keys: Collection[str] | None = None) -> None:
        """Give leases back now (clean shutdown, or a source that ended) so another worker needs not wait."""
        async with self.engine.begin() as conn:
            condition = SourceLease.owner == owner
            if keys is not None:
                condition = condition & SourceLease.source_key.in_(list(keys))
            await conn.execute(update(SourceLease).where(condition).values(expires_at=0.0))

    async def owners(self) -> dict[str, tuple[str, float]]:
        """source key → (owner, expires_at), membership rows included (for monitoring)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(SourceLease.source_key, SourceLease.owner, SourceLease.expires_at))
            return {row[0]: (row[1], float(row[2])) for row in rows}
