"""Shared fixtures: database URLs (SQLite file and a fresh PostgreSQL database per test) and the
matcher built from the default lists (a module may define its own ``matcher`` instead)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PG_ADMIN_URL = os.environ.get("LEADBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """``<repo>/../shared`` when present (real corpora and captured payloads)."""
    env = os.environ.get("LEADBOT_SHARED_DIR")
    path = Path(env) if env else REPO_ROOT.parent / "shared"
    return path if path.is_dir() else None


def require_shared(*parts: str) -> Path:
    base = shared_dir()
    if base is None:
        pytest.skip("../shared is absent: real corpora/vectors not available on this machine")
    path = base.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


async def _pg_admin_async(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_admin(sql: str) -> None:
    """Run one admin statement from any thread, including one whose event loop is running
    (playwright's sync API keeps one in the main thread, where ``asyncio.run`` refuses)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _pg_admin_async(sql)).result()


def _pg_available() -> bool:
    try:
        _pg_admin("select 1")
        return True
    except Exception:
        return False


_PG: bool | None = None


def pg_available() -> bool:
    global _PG
    if _PG is None:
        _PG = _pg_available()
    return _PG


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    with fresh_pg_database() as url:
        yield url


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new empty PostgreSQL database, dropped on exit, for fixtures of any scope. Skips the
    test when the server is down (fails under CI, which must have started it)."""
    if not pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (CI must start it: see .ci/run)")
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    name = f"leadbot_t_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'leadbot.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Run the same story on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'leadbot.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def matcher() -> Any:
    """The default lists' matcher, built once: the matching tests only read it."""
    from keywords import load_matcher
    from keywords.settings import MatchingSettings

    return load_matcher(MatchingSettings(), REPO_ROOT)
