"""Private-message reply windows in the database (see ``models.DmReplyWindow``).

Written in the batch transaction of the inbound message that opened them, read by the outbox
sender just before a private message goes out. A later window replaces an earlier one (the
reply must quote the newest inbound message); an older one arriving late never shortens it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import case, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.chunking import chunks
from storage.models import DmReplyWindow
from storage.records import DmWindowRecord


async def save_windows(
    conn: AsyncConnection, insert: Callable[[Any], Any], store_id: int, windows: Sequence[DmWindowRecord]
) -> None:
    newest: dict[tuple[str, str, str], DmWindowRecord] = {}
    for window in windows:
        key = (window.platform, window.account, window.user_id)
        if key not in newest or window.until >= newest[key].until:
            newest[key] = window
    for key in sorted(newest):  # one lock order across workers
        window = newest[key]
        stmt = insert(DmReplyWindow).values(
            store_id=store_id,
            platform=window.platform[:32],
            account=window.account[:128],
            user_id=window.user_id[:200],
            msg_id=window.msg_id[:200],
            conversation_id=window.conversation_id[:200],
            scene=window.scene[:64],
            until=window.until,
        )
        later = stmt.excluded.until >= DmReplyWindow.until
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[DmReplyWindow.store_id, DmReplyWindow.platform, DmReplyWindow.account, DmReplyWindow.user_id],
                set_={
                    column: case((later, getattr(stmt.excluded, column)), else_=getattr(DmReplyWindow, column))
                    for column in ("msg_id", "conversation_id", "scene", "until")
                },
            )
        )


async def open_window(
    conn: AsyncConnection, store_id: int, platform: str, account: str, user_id: str, now: float
) -> DmWindowRecord | None:
    """The person's reply window if it is still open at ``now``."""
    row = (
        await conn.execute(
            select(
                DmReplyWindow.platform,
                DmReplyWindow.account,
                DmReplyWindow.user_id,
                DmReplyWindow.msg_id,
                DmReplyWindow.conversation_id,
                DmReplyWindow.scene,
                DmReplyWindow.until,
            ).where(
                DmReplyWindow.store_id == store_id,
                DmReplyWindow.platform == platform,
                DmReplyWindow.account == account,
                DmReplyWindow.user_id == user_id,
                DmReplyWindow.until > now,
            )
        )
    ).first()
    if row is None:
        return None
    return DmWindowRecord(row.platform, row.account, row.user_id, row.msg_id, row.conversation_id, row.scene, row.until)


async def open_windows(
    conn: AsyncConnection, store_id: int, keys: Sequence[tuple[str, str, str]], now: float
) -> dict[tuple[str, str, str], float]:
    """The open windows among ``keys`` ((platform, account, user id)), as key -> until."""
    found: dict[tuple[str, str, str], float] = {}
    for chunk in chunks(keys, 300):  # three bound variables per key
        rows = await conn.execute(
            select(DmReplyWindow.platform, DmReplyWindow.account, DmReplyWindow.user_id, DmReplyWindow.until).where(
                DmReplyWindow.store_id == store_id,
                tuple_(DmReplyWindow.platform, DmReplyWindow.account, DmReplyWindow.user_id).in_(list(chunk)),
                DmReplyWindow.until > now,
            )
        )
        found.update({(row.platform, row.account, row.user_id): row.until for row in rows})
    return found
