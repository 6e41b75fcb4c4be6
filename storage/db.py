"""Engine creation: SQLite (WAL, busy timeout) for one machine, PostgreSQL (asyncpg) for many."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.settings import DatabaseSettings


class DatabaseUnavailable(Exception):
    """The database cannot be reached or written (down, locked, disk full, read-only)."""


def where(url: str) -> str:
    """The database a URL points at, for messages: the SQLite file, or PostgreSQL without password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def describe_error(error: BaseException, url: str) -> str:
    """One line for the operator: what is wrong with the database, and which one."""
    original = getattr(error, "orig", None) or error
    text = " ".join(str(original).split())[:300]
    lowered = text.lower()
    place = where(url)
    if "disk is full" in lowered or "disk full" in lowered or "no space left" in lowered:
        return f"the disk holding {place} is full (or the database reached its size limit): {text}"
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return f"{place} is read-only (check the permissions of the file and of its folder): {text}"
    if "database is locked" in lowered:
        return f"{place} is locked by another process: {text}"
    if "unable to open database file" in lowered:
        return f"cannot open {place}: the folder must exist and be writable ({text})"
    if "does not allow connections" in lowered or "connection" in lowered or isinstance(original, OSError):
        return f"cannot reach {place}: {text}"
    return f"{place}: {text}"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, settings: DatabaseSettings | None = None) -> AsyncEngine:
    settings = settings or DatabaseSettings()
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if is_sqlite(url):
        # SQLite has one writer. Several pooled connections of one process would queue on the
        # file lock through SQLite's sleeping busy handler (up to 100 ms per retry); one shared
        # connection queues them in the pool instead, in order, without sleeping.
        kwargs = {
            "connect_args": {"timeout": settings.busy_timeout_ms / 1000},
            "pool_size": 1,
            "max_overflow": 0,
            "pool_timeout": 60,
        }
    else:
        kwargs.update(pool_size=settings.pool_size, max_overflow=settings.pool_size)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        busy = settings.busy_timeout_ms
        cache_kib = settings.cache_mb * 1024

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA cache_size=-{int(cache_kib)}")  # negative: KiB, not pages
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
