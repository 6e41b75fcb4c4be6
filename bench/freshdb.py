"""A fresh, empty database for one benchmark run.

A benchmark pointed at a PostgreSQL URL must not reuse what an earlier run left there: stored
cursors would make the workers skip the new simulator's messages and the "stored" counters
would be satisfied before anything was read. So each run creates its own database on that
server (named after the given one) and drops it afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import make_url


@asynccontextmanager
async def fresh_database(url: str, *, keep: bool = False) -> AsyncIterator[str]:
    """Yield a URL to a new empty database on the server of ``url`` (SQLite URLs pass through)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        yield url
        return
    import asyncpg

    name = f"{parsed.database or 'leadbot'}_bench_{uuid.uuid4().hex[:8]}"
    admin_dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            admin = await asyncpg.connect(admin_dsn)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
