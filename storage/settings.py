"""``[database]`` section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # sqlite+aiosqlite:///relative/or/absolute.db (WAL, embedded default) or
    # postgresql+asyncpg://user@127.0.0.1:5432/dbname (several workers share it).
    url: str = "sqlite+aiosqlite:///leadbot.db"
    # Events written per transaction; larger batches keep storage off the critical path.
    batch_size: int = Field(default=500, ge=1, le=50_000)
    # Longest time an event waits for its batch to fill before it is flushed anyway.
    flush_interval_ms: int = Field(default=50, ge=1, le=60_000)
    # SQLite: how long a writer waits for a lock before failing.
    busy_timeout_ms: int = Field(default=5_000, ge=0, le=600_000)
    # SQLite: page cache of the worker's connection. SQLite's own default (2 MB) is outgrown after
    # a few minutes of a busy stream: every batch then re-reads index pages from the file and a
    # worker at 2,000 msgs/s falls behind (bench/load.py). Bounded: RSS grows by at most this.
    cache_mb: int = Field(default=64, ge=1, le=4_096)
    pool_size: int = Field(default=5, ge=1, le=100)
