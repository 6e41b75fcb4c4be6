"""Dashboard sessions ended by logging out (``models.RevokedSession``).

The session cookie is signed and stateless, so without this a copied cookie would stay valid
for its whole lifetime after the user logged out. Revocations are kept until the session would
have expired; expired rows are pruned when a new one is written.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import RevokedSession


async def revoke(engine: AsyncEngine, sid: str, expires_at: float, now: float | None = None) -> None:
    now = time.time() if now is None else now
    async with engine.begin() as conn:
        await conn.execute(delete(RevokedSession).where((RevokedSession.expires_at < now) | (RevokedSession.sid == sid)))
        await conn.execute(insert(RevokedSession).values(sid=sid[:64], expires_at=expires_at))


async def is_revoked(engine: AsyncEngine, sid: str) -> bool:
    async with engine.connect() as conn:
        found = await conn.execute(select(RevokedSession.sid).where(RevokedSession.sid == sid[:64]))
        return found.first() is not None
