"""Read-side queries for the dashboard: the question board, keyword hits, broadcast and product
reports, and the feedback (false positives) the support team marks on keyword hits.

Everything here only reads, except ``add_feedback`` / ``save_list_version`` which write the
dashboard's own tables (migration 0002). Times are unix seconds like everywhere in storage.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    distinct,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import (
    Action,
    Author,
    Interaction,
    KeywordFeedback,
    KeywordListVersion,
    Lead,
    LeadProduct,
    MatchRow,
    Message,
)

SENT_STATUSES = ("sent", "delivered", "undelivered")
DAY = 86_400.0


def product_label(product: str | None, link_number: int | None) -> str:
    if product:
        return product
    if link_number is not None:
        return f"{link_number}号链接"
    return "(no product)"


# ---------------------------------------------------------------------------- question board
async def question_board(engine: AsyncEngine, since: float, *, limit: int = 30) -> list[dict[str, Any]]:
    """Questions asked since ``since`` grouped by (product, intent): how many people, how many
    messages, and the latest wording — what the host answers out loud."""
    per_message = (
        select(
            Message.id.label("id"),
            Message.author_id.label("author_id"),
            Message.primary_intent.label("intent"),
            func.max(MatchRow.product).label("product"),
            func.max(MatchRow.link_number).label("link_number"),
        )
        .outerjoin(MatchRow, and_(MatchRow.message_id == Message.id, MatchRow.accepted.is_(True)))
        .where(Message.ts >= since, Message.primary_intent != "none", Message.is_self.is_(False))
        .group_by(Message.id, Message.author_id, Message.primary_intent)
        .subquery()
    )
    grouped = (
        select(
            per_message.c.product,
            per_message.c.link_number,
            per_message.c.intent,
            func.count(distinct(per_message.c.author_id)).label("people"),
            func.count().label("messages"),
            func.max(per_message.c.id).label("last_id"),
        )
        .group_by(per_message.c.product, per_message.c.link_number, per_message.c.intent)
        .order_by(func.count(distinct(per_message.c.author_id)).desc(), func.max(per_message.c.id).desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = [dict(r._mapping) for r in await conn.execute(grouped)]
        last_ids = [r["last_id"] for r in rows]
        texts: dict[int, tuple[str, float]] = {}
        if last_ids:
            for mid, text, ts in await conn.execute(
                select(Message.id, Message.text, Message.ts).where(Message.id.in_(last_ids))
            ):
                texts[mid] = (text, ts)
    for row in rows:
        row["label"] = product_label(row["product"], row["link_number"])
        row["example"], row["last_at"] = texts.get(row.pop("last_id"), ("", 0.0))
    return rows


async def recent_messages(engine: AsyncEngine, since: float, *, limit: int = 20_000) -> list[str]:
    """Texts of the chat read since ``since`` (not our own), oldest first: for list previews."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(Message.text)
            .where(Message.ts >= since, Message.is_self.is_(False))
            .order_by(Message.ts.desc())
            .limit(limit)
        )
        texts = list(rows.scalars())
    texts.reverse()
    return texts


async def activity(engine: AsyncEngine, since: float) -> dict[str, Any]:
    """Counts since ``since``: messages, new leads, actions by status, suppressed by reason."""
    async with engine.connect() as conn:
        messages = (
            await conn.execute(select(func.count()).select_from(Message).where(Message.ts >= since))
        ).scalar_one()
        leads = (
            await conn.execute(select(func.count()).select_from(Lead).where(Lead.first_seen_at >= since))
        ).scalar_one()
        by_status = dict(
            (
                await conn.execute(
                    select(Action.status, func.count()).where(Action.created_at >= since).group_by(Action.status)
                )
            ).all()
        )
        reasons = dict(
            (
                await conn.execute(
                    select(Action.reason, func.count())
                    .where(Action.created_at >= since, Action.status.in_(("suppressed", "skipped")))
                    .group_by(Action.reason)
                )
            ).all()
        )
    return {"messages": messages, "leads": leads, "actions_by_status": by_status, "suppressed_by_reason": reasons}


# ---------------------------------------------------------------------------- keywords
async def keyword_hits(engine: AsyncEngine, since: float) -> list[dict[str, Any]]:
    """Per (intent, keyword): hits since ``since``, how many were accepted, marked false positives."""
    fp = (
        select(KeywordFeedback.keyword, KeywordFeedback.intent, func.count().label("false_positives"))
        .join(MatchRow, MatchRow.message_id == KeywordFeedback.message_id)
        .where(MatchRow.ts >= since, MatchRow.keyword == KeywordFeedback.keyword)
        .group_by(KeywordFeedback.keyword, KeywordFeedback.intent)
        .subquery()
    )
    query = (
        select(
            MatchRow.intent,
            MatchRow.keyword,
            func.count().label("hits"),
            func.sum(case((MatchRow.accepted.is_(True), 1), else_=0)).label("accepted"),
            func.max(fp.c.false_positives).label("false_positives"),
        )
        .outerjoin(fp, and_(fp.c.keyword == MatchRow.keyword, fp.c.intent == MatchRow.intent))
        .where(MatchRow.ts >= since)
        .group_by(MatchRow.intent, MatchRow.keyword)
        .order_by(func.count().desc())
    )
    async with engine.connect() as conn:
        rows = [dict(r._mapping) for r in await conn.execute(query)]
    for row in rows:
        row["accepted"] = int(row["accepted"] or 0)
        row["false_positives"] = int(row["false_positives"] or 0)
    return rows


async def keyword_messages(
    engine: AsyncEngine, keyword: str, since: float, *, limit: int = 100
) -> list[dict[str, Any]]:
    """The messages that hit ``keyword`` since ``since``, newest first, with the hit and any feedback."""
    query = (
        select(
            Message.id,
            Message.text,
            Message.ts,
            Message.origin,
            Author.nickname,
            MatchRow.intent,
            MatchRow.rule,
            MatchRow.matched,
            MatchRow.accepted,
            MatchRow.rejected_because,
            KeywordFeedback.label.label("feedback"),
            KeywordFeedback.note.label("feedback_note"),
        )
        .join(Message, Message.id == MatchRow.message_id)
        .join(Author, Author.id == Message.author_id)
        .outerjoin(
            KeywordFeedback,
            and_(KeywordFeedback.message_id == MatchRow.message_id, KeywordFeedback.keyword == MatchRow.keyword),
        )
        .where(MatchRow.keyword == keyword, MatchRow.ts >= since)
        .order_by(MatchRow.id.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(query)]


async def add_feedback(
    engine: AsyncEngine, *, message_id: int, keyword: str, label: str, note: str = "", by: str = "user"
) -> bool:
    """Record (or update) a verdict on the hit of ``keyword`` in a message. False if no such hit."""
    from sqlalchemy.dialects import postgresql, sqlite

    async with engine.begin() as conn:
        hit = (
            await conn.execute(
                select(MatchRow.intent).where(MatchRow.message_id == message_id, MatchRow.keyword == keyword).limit(1)
            )
        ).scalar_one_or_none()
        if hit is None:
            return False
        insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(KeywordFeedback)
        stmt = insert.values(
            message_id=message_id,
            keyword=keyword[:100],
            intent=hit,
            label=label[:16],
            note=note[:2000],
            created_at=time.time(),
            created_by=by[:100],
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[KeywordFeedback.message_id, KeywordFeedback.keyword],
                set_={"label": stmt.excluded.label, "note": stmt.excluded.note, "created_at": stmt.excluded.created_at},
            )
        )
    return True


async def feedback_rows(engine: AsyncEngine) -> AsyncIterator[dict[str, Any]]:
    """Every verdict with its message text, oldest first (for the labelled TSV export)."""
    query = (
        select(
            KeywordFeedback.label,
            Message.text,
            Message.origin,
            KeywordFeedback.keyword,
            KeywordFeedback.intent,
            KeywordFeedback.note,
        )
        .join(Message, Message.id == KeywordFeedback.message_id)
        .order_by(KeywordFeedback.id)
    )
    async with engine.connect() as conn:
        result = await conn.stream(query)
        async for row in result:
            yield dict(row._mapping)


def _tsv_cell(value: str) -> str:
    return " ".join(str(value).replace("\t", " ").splitlines())


def feedback_tsv_line(row: dict[str, Any]) -> str:
    """``label<TAB>text<TAB>source<TAB>note``: the labelled format ``keywords eval`` reads."""
    note = f"dashboard: {row['keyword']} ({row['intent']}) marked wrong"
    if row.get("note"):
        note += f"; {row['note']}"
    return "\t".join(_tsv_cell(v) for v in (row["label"], row["text"], row["origin"], note)) + "\n"


# ---------------------------------------------------------------------------- list versions
@dataclass(frozen=True)
class ListVersion:
    id: int
    name: str
    content: str
    sha256: str
    created_at: float
    created_by: str
    comment: str


async def save_list_version(
    engine: AsyncEngine, name: str, content: str, *, by: str = "user", comment: str = ""
) -> ListVersion:
    now = time.time()
    digest = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()
    async with engine.begin() as conn:
        row = await conn.execute(
            insert(KeywordListVersion)
            .values(name=name[:300], content=content, sha256=digest, created_at=now, created_by=by[:100], comment=comment[:300])
            .returning(KeywordListVersion.id)
        )
        new_id = int(row.scalar_one())
    return ListVersion(new_id, name, content, digest, now, by, comment)


async def list_versions(engine: AsyncEngine, name: str, *, limit: int = 50) -> list[ListVersion]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(KeywordListVersion.__table__)
            .where(KeywordListVersion.name == name)
            .order_by(KeywordListVersion.id.desc())
            .limit(limit)
        )
        return [ListVersion(**dict(r._mapping)) for r in rows]


async def get_list_version(engine: AsyncEngine, version_id: int) -> ListVersion | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(KeywordListVersion.__table__).where(KeywordListVersion.id == version_id))
        ).first()
    return ListVersion(**dict(row._mapping)) if row is not None else None


# ---------------------------------------------------------------------------- notes
async def save_notes(engine: AsyncEngine, lead_id: int, notes: str) -> bool:
    async with engine.begin() as conn:
        result = await conn.execute(
            update(Lead).where(Lead.id == lead_id).values(notes=notes[:20_000]).returning(Lead.id)
        )
        return result.first() is not None


async def lead_notes(engine: AsyncEngine, lead_id: int) -> str:
    async with engine.connect() as conn:
        return str((await conn.execute(select(Lead.notes).where(Lead.id == lead_id))).scalar_one_or_none() or "")


# ---------------------------------------------------------------------------- reports
@dataclass(frozen=True)
class Broadcast:
    origin: str
    started_at: float
    ended_at: float | None  # None: still live (or the end was never seen)


async def broadcasts(engine: AsyncEngine, *, limit: int = 20) -> list[Broadcast]:
    """Broadcasts from live start/end interactions, newest first. A start without an end is open."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(Interaction.origin, Interaction.kind, Interaction.ts)
                .where(Interaction.kind.in_(("live_start", "live_end")))
                .order_by(Interaction.origin, Interaction.ts, Interaction.id)
            )
        ).all()
    found: list[Broadcast] = []
    open_starts: dict[str, float] = {}
    for origin, kind, ts in rows:
        if kind == "live_start":
            if origin in open_starts:  # a second start without an end: close the first one here
                found.append(Broadcast(origin, open_starts[origin], ts))
            open_starts[origin] = ts
        elif origin in open_starts:
            found.append(Broadcast(origin, open_starts.pop(origin), ts))
    found.extend(Broadcast(origin, started, None) for origin, started in open_starts.items())
    found.sort(key=lambda b: b.started_at, reverse=True)
    return found[:limit]


def _ordered_after_reply(window_s: float) -> Any:
    """An 'ordered' message by the replied author within ``window_s`` after the reply was sent."""
    return exists().where(
        Message.author_id == Action.author_id,
        Message.ts > Action.sent_at,
        Message.ts <= Action.sent_at + window_s,
        or_(
            Message.primary_intent == "ordered",
            exists().where(MatchRow.message_id == Message.id, MatchRow.intent == "ordered", MatchRow.accepted.is_(True)),
        ),
    )


async def _reply_figures(conn: Any, action_filter: Any) -> dict[str, int]:
    replied = and_(action_filter, Action.kind == "reply", Action.status.in_(SENT_STATUSES))
    figures: dict[str, int] = {}
    figures["replies_sent"] = (await conn.execute(select(func.count()).select_from(Action).where(replied))).scalar_one()
    figures["replied_people"] = (
        await conn.execute(select(func.count(distinct(Action.author_id))).where(replied))
    ).scalar_one()
    figures["suppressed"] = (
        await conn.execute(
            select(func.count()).select_from(Action).where(action_filter, Action.status == "suppressed")
        )
    ).scalar_one()
    for name, window in (("conversions", None), ("follow_24h", DAY), ("follow_7d", 7 * DAY)):
        condition = _ordered_after_reply(window if window is not None else 3650 * DAY)
        figures[name] = (
            await conn.execute(select(func.count(distinct(Action.author_id))).where(replied, condition))
        ).scalar_one()
    return figures


async def broadcast_report(engine: AsyncEngine, *, limit: int = 20) -> list[dict[str, Any]]:
    """Per broadcast: messages, leads, replies sent / people replied, suppressed by caps,
    conversions ('ordered' after a reply) and the 24 h / 7 d follow-through."""
    report = []
    now = time.time()
    casts = await broadcasts(engine, limit=limit)  # before taking a connection: SQLite pools just one
    async with engine.connect() as conn:
        for cast in casts:
            end = cast.ended_at if cast.ended_at is not None else now
            in_window = and_(Message.origin == cast.origin, Message.ts >= cast.started_at, Message.ts <= end)
            messages = (await conn.execute(select(func.count()).select_from(Message).where(in_window))).scalar_one()
            leads = (
                await conn.execute(
                    select(func.count(distinct(Message.author_id))).where(
                        in_window, Message.primary_intent != "none", Message.is_self.is_(False)
                    )
                )
            ).scalar_one()
            action_filter = and_(
                Action.origin == cast.origin, Action.created_at >= cast.started_at, Action.created_at <= end + 60
            )
            figures = await _reply_figures(conn, action_filter)
            report.append(
                {
                    "origin": cast.origin,
                    "started_at": cast.started_at,
                    "ended_at": cast.ended_at,
                    "messages": messages,
                    "leads": leads,
                    **figures,
                    "reply_rate": figures["replied_people"] / leads if leads else 0.0,
                }
            )
    return report


async def product_report(engine: AsyncEngine, *, since: float | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Per product asked about: leads, replies, suppressed, conversions, follow-through."""
    conditions = [LeadProduct.last_at >= since] if since is not None else []
    async with engine.connect() as conn:
        products = (
            await conn.execute(
                select(LeadProduct.product, func.count(distinct(LeadProduct.lead_id)).label("leads"))
                .where(*conditions)
                .group_by(LeadProduct.product)
                .order_by(func.count(distinct(LeadProduct.lead_id)).desc())
                .limit(limit)
            )
        ).all()
        report = []
        for product, leads in products:
            lead_ids = select(LeadProduct.lead_id).where(LeadProduct.product == product, *conditions)
            action_filter: ColumnElement[bool] = Action.lead_id.in_(lead_ids)
            if since is not None:
                action_filter = and_(action_filter, Action.created_at >= since)
            figures = await _reply_figures(conn, action_filter)
            report.append(
                {
                    "product": product,
                    "leads": leads,
                    **figures,
                    "reply_rate": figures["replied_people"] / leads if leads else 0.0,
                }
            )
    return report


async def leads_per_hour(engine: AsyncEngine, since: float) -> list[tuple[float, int]]:
    """New leads per hour since ``since`` (hour start, count), for the trend chart."""
    if engine.dialect.name == "sqlite":
        bucket = cast(Lead.first_seen_at / 3600, Integer) * 3600  # truncation = floor for positive times
    else:
        bucket = func.floor(Lead.first_seen_at / 3600) * 3600
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(bucket.label("hour"), func.count()).where(Lead.first_seen_at >= since).group_by("hour").order_by("hour")
        )
        return [(float(hour), int(count)) for hour, count in rows]
