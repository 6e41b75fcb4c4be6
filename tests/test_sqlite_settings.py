"""The SQLite connection is set up as the settings say (WAL, lock wait, bounded page cache)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from storage.db import create_engine
from storage.settings import DatabaseSettings


async def test_every_sqlite_connection_gets_wal_the_lock_wait_and_the_page_cache(tmp_path: Path) -> None:
    settings = DatabaseSettings(busy_timeout_ms=1234, cache_mb=8)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", settings)
    try:
        async with engine.connect() as conn:
            pragmas = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "busy_timeout", "cache_size", "synchronous")
            }
    finally:
        await engine.dispose()
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 1234, "cache_size": -8 * 1024, "synchronous": 1}


def test_the_default_page_cache_is_64_mb_and_a_nonsense_size_is_refused() -> None:
    assert DatabaseSettings().cache_mb == 64
    for bad in (0, -5, 10_000):
        with pytest.raises(ValidationError, match="cache_mb"):
            DatabaseSettings(cache_mb=bad)
