"""Writing batches and draining the outbox — the only place that turns decisions into rows.

``write_batch`` writes one batch of decided events in ONE transaction: new messages (platform
message ids already stored are skipped), authors, leads and their intents/products, match
explanations, interactions, outbox actions with their cap claims, delivery echoes and the
sources' cursors. Either all of it is committed or none, so a crash at any point replays the
batch from the previous cursor and reaches the same state: nothing lost, nothing doubled.

Caps are claimed inside that transaction: the batch's counter rows are loaded and locked once,
decided in memory (``storage.cap_ledger``) and written back, so two workers or a restart can
never exceed a cap.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.cap_ledger import ClaimLedger, CounterState
from storage.chunking import CHUNK, chunks
from storage.dm_windows import open_window, open_windows, save_windows
from storage.leases import LeaseBook, LeaseLost
from storage.models import (
    Action,
    Author,
    CapCounter,
    ControlFlag,
    DmReplyWindow,
    Interaction,
    Lead,
    LeadIntent,
    LeadProduct,
    LeadStatusChange,
    MatchRow,
    Message,
    ReminderSubscription,
    ScheduledBroadcast,
    SourceCursor,
    Store,
)
from storage.records import (
    ActionRecord,
    Batch,
    BatchResult,
    BroadcastRecord,
    CounterClaim,
    DmWindowRecord,
    MessageRecord,
    PersonRef,
    SubscriptionRecord,
)

LEAD_STATUSES = ("new", "contacted", "won", "lost", "ignored")
_CLAIMING = ("pending", "shadow", "batched")  # statuses whose action consumes its cap claims


def _ids_by_platform(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for platform, key in keys:
        grouped[platform].append(key)
    return grouped


def _existing_keys_query(platform_column: Any, id_column: Any) -> Any:
    """The stored ids among some of one platform's ids: ``platform = p AND id IN (...)``, one
    platform at a time, uses the unique index on every database; a row-value IN over hundreds of
    pairs is planned slowly by PostgreSQL."""
    return select(id_column).where(
        platform_column == bindparam("platform"), id_column.in_(bindparam("ids", expanding=True))
    )


async def _existing_keys(conn: AsyncConnection, query: Any, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (platform, platform id) pairs are stored already (``_existing_keys_query``)."""
    existing: set[tuple[str, str]] = set()
    for platform, ids in _ids_by_platform(keys).items():
        for chunk in chunks(ids, 2 * CHUNK):
            rows = await conn.execute(query, {"platform": platform, "ids": list(chunk)})
            existing.update((platform, value) for value in rows.scalars())
    return existing


@dataclass(frozen=True)
class ClaimedAction:
    """An outbox row claimed by one sender for one attempt."""

    id: int
    kind: str
    subtype: str
    channel: str
    platform: str
    account: str
    target: str
    text: str
    idempotency_key: str
    reply_to: str | None
    recipient: str | None
    attempts: int
    lead_id: int | None


class Repository:
    def __init__(self, engine: AsyncEngine, store_name: str = "my store") -> None:
        self.engine = engine
        self.store_name = store_name
        self.store_id: int | None = None
        self.dialect = engine.dialect.name
        self._statements: dict[str, Any] = {}
        self.leases = LeaseBook(engine)
        # Crash-test hook (``bot.faultpoints.fault_point``), called at named points mid-transaction.
        self.fault_hook: Callable[[str], None] = lambda _name: None

    # ------------------------------------------------------------------ helpers
    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def _statement(self, name: str, build: Callable[[], Any]) -> Any:
        """A statement built once per repository: every batch runs the same upserts, and building
        one (``excluded`` aliases, column proxies) cost the event loop about a third of the write
        stage under load. Only statements without per-call values belong here."""
        statement = self._statements.get(name)
        if statement is None:
            statement = self._statements[name] = build()
        return statement

    async def ensure_store(self) -> int:
        if self.store_id is not None:
            return self.store_id
        async with self.engine.begin() as conn:
            await conn.execute(self._insert(Store).values(name=self.store_name).on_conflict_do_nothing())
            self.store_id = (await conn.execute(select(Store.id).where(Store.name == self.store_name))).scalar_one()
        return self.store_id

    # ------------------------------------------------------------------ batch write
    async def write_batch(
        self,
        batch: Batch,
        now: float | None = None,
        *,
        lease_owner: str | None = None,
        unleased: Collection[str] = (),
    ) -> BatchResult:
        """Write one batch atomically. With ``lease_owner``, first lock that worker's leases on the
        batch's sources (except the ``unleased`` ones: webhooks pushed to this worker) and raise
        ``LeaseLost`` (nothing written) if any is no longer held."""
        store_id = await self.ensure_store()
        now = time.time() if now is None else now
        result = BatchResult()
        async with self.engine.begin() as conn:
            if lease_owner is not None:
                lost = await self.leases.fence(conn, lease_owner, [k for k in batch.cursors if k not in unleased])
                if lost:
                    raise LeaseLost(lost)
            new_messages = await self._new_messages(conn, batch.messages, result)
            new_interactions = await self._new_interactions(conn, store_id, batch, result)
            people = {m.person.key: m.person for m in new_messages}
            for interaction in new_interactions:
                if interaction.person is not None:
                    people.setdefault(interaction.person.key, interaction.person)
            for action in batch.actions:
                if action.person is not None:
                    people.setdefault(action.person.key, action.person)
            author_ids = await self._upsert_authors(conn, store_id, people, new_messages, now)
            message_ids = await self._insert_messages(conn, store_id, new_messages, author_ids, now)
            result.new_message_ids = {key[1]: value for key, value in message_ids.items()}
            lead_ids = await self._upsert_leads(conn, store_id, new_messages, author_ids, result)
            self.fault_hook("mid_write_batch")
            await self._insert_matches(conn, new_messages, message_ids, author_ids, lead_ids)
            await self._insert_interactions(conn, store_id, new_interactions, author_ids)
            await self._note_broadcasts(conn, store_id, batch, new_interactions, now)
            await save_windows(conn, self._insert, store_id, batch.dm_windows)
            result.delivered = await self._apply_echoes(conn, batch, now)
            new_event_keys = {(m.platform, m.platform_msg_id) for m in new_messages}
            new_event_keys |= {(i.platform, i.event_id) for i in new_interactions}
            await self._insert_actions(
                conn, store_id, batch.actions, new_event_keys, author_ids, lead_ids, message_ids, result, now
            )
            await self._save_cursors(conn, batch, now)
        return result

    async def _new_messages(
        self, conn: AsyncConnection, messages: list[MessageRecord], result: BatchResult
    ) -> list[MessageRecord]:
        unique: dict[tuple[str, str], MessageRecord] = {}
        for message in messages:
            unique.setdefault((message.platform, message.platform_msg_id), message)
        query = self._statement("known_messages", lambda: _existing_keys_query(Message.platform, Message.platform_msg_id))
        existing = await _existing_keys(conn, query, unique)
        fresh = [message for key, message in unique.items() if key not in existing]
        result.duplicate_messages = len(messages) - len(fresh)
        result.new_messages = len(fresh)
        return fresh

    async def _new_interactions(self, conn: AsyncConnection, store_id: int, batch: Batch, result: BatchResult) -> list[Any]:
        unique = {(i.platform, i.event_id): i for i in batch.interactions}
        query = self._statement(
            "known_interactions", lambda: _existing_keys_query(Interaction.platform, Interaction.platform_event_id)
        )
        existing = await _existing_keys(conn, query, unique)
        fresh = [i for key, i in unique.items() if key not in existing]
        result.new_interactions = len(fresh)
        return fresh

    async def _upsert_authors(
        self,
        conn: AsyncConnection,
        store_id: int,
        people: dict[str, PersonRef],
        new_messages: list[MessageRecord],
        now: float,
    ) -> dict[str, int]:
        if not people:
            return {}
        counts: Counter[str] = Counter(m.person.key for m in new_messages if not m.is_self)
        first_seen: dict[str, float] = {}
        last_seen: dict[str, float] = {}
        sources: dict[str, str] = {}
        for message in new_messages:
            key = message.person.key
            first_seen[key] = min(first_seen.get(key, message.ts), message.ts)
            last_seen[key] = max(last_seen.get(key, message.ts), message.ts)
            sources.setdefault(key, message.origin)
        rows = [
            {
                "store_id": store_id,
                "platform": person.platform,
                "platform_user_id": person.user_id,
                "nickname": person.nickname[:200],
                "fan_level": person.fan_level,
                "badge": (person.badge or None) and person.badge[:100],
                "region": (person.region or None) and person.region[:100],
                "first_seen_at": first_seen.get(key, now),
                "last_seen_at": last_seen.get(key, now),
                "message_count": counts.get(key, 0),
                "first_source": sources.get(key, "")[:300],
            }
            for key, person in sorted(people.items())  # one lock order for every worker (no deadlocks)
        ]
        ids: dict[str, int] = {}
        stmt = self._statement("authors", self._build_author_upsert)
        for chunk in chunks(rows):
            for row in await conn.execute(stmt, list(chunk)):
                ids[f"{row.platform}:{row.platform_user_id}"] = row.id
        return ids

    def _build_author_upsert(self) -> Any:
        stmt = self._insert(Author)
        excluded = stmt.excluded
        return stmt.on_conflict_do_update(
            index_elements=[Author.store_id, Author.platform, Author.platform_user_id],
            set_={
                "nickname": case((excluded.nickname != "", excluded.nickname), else_=Author.nickname),
                "fan_level": func.coalesce(excluded.fan_level, Author.fan_level),
                "badge": func.coalesce(excluded.badge, Author.badge),
                "region": func.coalesce(excluded.region, Author.region),
                "last_seen_at": case(
                    (excluded.last_seen_at > Author.last_seen_at, excluded.last_seen_at), else_=Author.last_seen_at
                ),
                "message_count": Author.message_count + excluded.message_count,
            },
        ).returning(Author.id, Author.platform, Author.platform_user_id)

    async def _insert_messages(
        self,
        conn: AsyncConnection,
        store_id: int,
        messages: list[MessageRecord],
        author_ids: dict[str, int],
        now: float,
    ) -> dict[tuple[str, str], int]:
        if not messages:
            return {}
        rows = [
            {
                "store_id": store_id,
                "platform": m.platform,
                "platform_msg_id": m.platform_msg_id,
                "author_id": author_ids[m.person.key],
                "origin": m.origin[:300],
                "kind": m.kind,
                "text": m.text,
                "ts": m.ts,
                "received_at": m.received_at,
                "decided_at": now,
                "is_self": m.is_self,
                "primary_intent": m.primary_intent,
                "score": m.score,
                "matcher_version": m.matcher_version[:64],
            }
            for m in messages
        ]
        ids: dict[tuple[str, str], int] = {}
        stmt = self._statement(
            "messages",
            lambda: self._insert(Message)
            .on_conflict_do_nothing(index_elements=[Message.platform, Message.platform_msg_id])
            .returning(Message.id, Message.platform, Message.platform_msg_id),
        )
        for chunk in chunks(rows):
            for row in await conn.execute(stmt, list(chunk)):
                ids[(row.platform, row.platform_msg_id)] = row.id
        return ids

    async def _upsert_leads(
        self,
        conn: AsyncConnection,
        store_id: int,
        messages: list[MessageRecord],
        author_ids: dict[str, int],
        result: BatchResult,
    ) -> dict[int, int]:
        """author id -> lead id, for every author who expressed intent in this batch."""
        per_author: dict[int, list[MessageRecord]] = defaultdict(list)
        for message in messages:
            if message.is_lead:
                per_author[author_ids[message.person.key]].append(message)
        if not per_author:
            return {}
        rows = []
        for author_id, items in sorted(per_author.items()):
            rows.append(
                {
                    "store_id": store_id,
                    "author_id": author_id,
                    "status": "new",
                    "score": max(m.score for m in items),
                    "first_seen_at": min(m.ts for m in items),
                    "last_seen_at": max(m.ts for m in items),
                    "message_count": len(items),
                    "first_origin": items[0].origin[:300],
                    "last_text": max(items, key=lambda m: m.ts).text[:2000],
                    "notes": "",
                }
            )
        existing: set[int] = set()
        for chunk in chunks(list(per_author)):
            found = await conn.execute(
                select(Lead.author_id).where(Lead.store_id == store_id, Lead.author_id.in_(list(chunk)))
            )
            existing.update(found.scalars())
        lead_ids: dict[int, int] = {}
        stmt = self._statement("leads", self._build_lead_upsert)
        for chunk in chunks(rows):
            for row in await conn.execute(stmt, list(chunk)):
                lead_ids[row.author_id] = row.id
        result.new_leads = len(set(per_author) - existing)
        result.leads_touched = len(per_author)

        intent_rows: dict[tuple[int, str], dict[str, Any]] = {}
        product_rows: dict[tuple[int, str], dict[str, Any]] = {}
        for author_id, items in per_author.items():
            lead_id = lead_ids[author_id]
            for message in items:
                for intent in message.intents:
                    irow = intent_rows.setdefault(
                        (lead_id, intent),
                        {"lead_id": lead_id, "intent": intent, "count": 0, "first_at": message.ts, "last_at": message.ts},
                    )
                    irow["count"] += 1
                    irow["first_at"] = min(irow["first_at"], message.ts)
                    irow["last_at"] = max(irow["last_at"], message.ts)
                for product in message.products:
                    prow = product_rows.setdefault(
                        (lead_id, product), {"lead_id": lead_id, "product": product[:100], "count": 0, "last_at": message.ts}
                    )
                    prow["count"] += 1
                    prow["last_at"] = max(prow["last_at"], message.ts)
        intents = self._statement("lead_intents", lambda: self._build_count_upsert(LeadIntent, LeadIntent.intent))
        for chunk in chunks([intent_rows[key] for key in sorted(intent_rows)]):
            await conn.execute(intents, list(chunk))
        products = self._statement("lead_products", lambda: self._build_count_upsert(LeadProduct, LeadProduct.product))
        for chunk in chunks([product_rows[key] for key in sorted(product_rows)]):
            await conn.execute(products, list(chunk))
        return lead_ids

    def _build_lead_upsert(self) -> Any:
        stmt = self._insert(Lead)
        excluded = stmt.excluded
        return stmt.on_conflict_do_update(
            index_elements=[Lead.store_id, Lead.author_id],
            set_={
                "score": case((excluded.score > Lead.score, excluded.score), else_=Lead.score),
                "last_seen_at": case(
                    (excluded.last_seen_at > Lead.last_seen_at, excluded.last_seen_at), else_=Lead.last_seen_at
                ),
                "message_count": Lead.message_count + excluded.message_count,
                "last_text": excluded.last_text,
            },
        ).returning(Lead.id, Lead.author_id)

    def _build_count_upsert(self, table: Any, name_column: Any) -> Any:
        """A lead's per-intent or per-product row: counts add up, the last time moves on."""
        stmt = self._insert(table)
        return stmt.on_conflict_do_update(
            index_elements=[table.lead_id, name_column],
            set_={"count": table.count + stmt.excluded.count, "last_at": stmt.excluded.last_at},
        )

    async def _insert_matches(
        self,
        conn: AsyncConnection,
        messages: list[MessageRecord],
        message_ids: dict[tuple[str, str], int],
        author_ids: dict[str, int],
        lead_ids: dict[int, int],
    ) -> None:
        rows = []
        for message in messages:
            message_id = message_ids.get((message.platform, message.platform_msg_id))
            if message_id is None:
                continue
            lead_id = lead_ids.get(author_ids[message.person.key]) if message.is_lead else None
            for match in message.matches:
                rows.append(
                    {
                        "message_id": message_id,
                        "lead_id": lead_id,
                        "intent": match.intent,
                        "keyword": match.keyword[:100],
                        "rule": match.rule[:32],
                        "span_start": match.span_start,
                        "span_end": match.span_end,
                        "matched": match.matched[:200],
                        "accepted": match.accepted,
                        "rejected_because": (match.rejected_because or None) and match.rejected_because[:200],
                        "product": match.product,
                        "link_number": match.link_number,
                        "ts": message.ts,
                    }
                )
        stmt = self._statement("matches", lambda: self._insert(MatchRow))
        for chunk in chunks(rows):
            await conn.execute(stmt, list(chunk))

    async def _insert_interactions(
        self, conn: AsyncConnection, store_id: int, interactions: list[Any], author_ids: dict[str, int]
    ) -> None:
        rows = []
        followers: list[tuple[int, float]] = []
        for item in interactions:
            author_id = author_ids.get(item.person.key) if item.person is not None else None
            rows.append(
                {
                    "store_id": store_id,
                    "platform": item.platform,
                    "platform_event_id": item.event_id,
                    "kind": item.kind,
                    "author_id": author_id,
                    "origin": item.origin[:300],
                    "ts": item.ts,
                    "data": item.data,
                }
            )
            if item.kind == "follow" and author_id is not None:
                followers.append((author_id, item.ts))
        for chunk in chunks(rows):
            await conn.execute(
                self._insert(Interaction).on_conflict_do_nothing(
                    index_elements=[Interaction.platform, Interaction.platform_event_id]
                ),
                list(chunk),
            )
        for author_id, ts in followers:
            await conn.execute(
                update(Author)
                .where(Author.id == author_id)
                .values(is_following=True, followed_at=func.coalesce(Author.followed_at, ts))
            )

    async def _apply_echoes(self, conn: AsyncConnection, batch: Batch, now: float) -> int:
        delivered = 0
        for echo in batch.echoes:
            condition = (
                Action.idempotency_key == echo.idempotency_key
                if echo.idempotency_key
                else and_(Action.target == echo.target, Action.text == echo.text)
            )
            found = await conn.execute(
                update(Action)
                .where(condition, Action.status.in_(("sent", "sending", "undelivered")))
                .values(status="delivered", delivered_at=echo.ts or now, updated_at=now)
                .returning(Action.id)
            )
            delivered += len(found.all())
        return delivered

    async def _claim_ledger(self, conn: AsyncConnection, claims: Sequence[CounterClaim], now: float) -> ClaimLedger:
        """Every counter these claims name, loaded (and locked) in one go.

        A missing row is first inserted as an expired one (count 0, ``expires_at`` 0: "absent"
        to a claim), so that every counter has a row to lock: on PostgreSQL a second worker
        claiming the same counter waits at the insert or the ``FOR UPDATE`` until this
        transaction ends, then reads what it committed. Keys in sorted order: one lock order
        for every worker. SQLite has one writer at a time, so the rows are ours anyway."""
        keys = sorted({claim.key for claim in claims})
        placeholders = [{"key": key, "count": 0, "cap": 0, "holder": "", "expires_at": 0.0} for key in keys]
        absent = self._statement(
            "counter_rows", lambda: self._insert(CapCounter).on_conflict_do_nothing(index_elements=[CapCounter.key])
        )
        for chunk in chunks(placeholders):
            await conn.execute(absent, list(chunk))
        rows: dict[str, CounterState] = {}
        for chunk in chunks(keys, 2 * CHUNK):
            query = (
                select(CapCounter.key, CapCounter.count, CapCounter.cap, CapCounter.holder, CapCounter.expires_at)
                .where(CapCounter.key.in_(list(chunk)))
                .order_by(CapCounter.key)
                .with_for_update()
            )
            for key, count, cap, holder, expires_at in await conn.execute(query):
                rows[key] = CounterState(count, cap, holder, expires_at)
        return ClaimLedger(rows, now)

    async def _save_ledger(self, conn: AsyncConnection, ledger: ClaimLedger) -> None:
        rows = ledger.rows_to_write()
        if not rows:
            return
        stmt = self._statement(
            "counter_update",
            lambda: update(CapCounter)
            .where(CapCounter.key == bindparam("b_key"))
            .values(
                count=bindparam("b_count"),
                cap=bindparam("b_cap"),
                holder=bindparam("b_holder"),
                expires_at=bindparam("b_expires_at"),
            ),
        )
        await conn.execute(stmt, rows)

    async def _insert_actions(
        self,
        conn: AsyncConnection,
        store_id: int,
        actions: list[ActionRecord],
        new_event_keys: set[tuple[str, str]],
        author_ids: dict[str, int],
        lead_ids: dict[int, int],
        message_ids: dict[tuple[str, str], int],
        result: BatchResult,
        now: float,
    ) -> None:
        wanted = [a for a in actions if a.source_event is None or a.source_event in new_event_keys]
        if not wanted:
            return
        keys = [a.idempotency_key for a in wanted]
        existing: set[str] = set()
        known = self._statement(
            "known_actions",
            lambda: select(Action.idempotency_key).where(
                Action.idempotency_key.in_(bindparam("keys", expanding=True))
            ),
        )
        for chunk in chunks(keys):
            found = await conn.execute(known, {"keys": list(chunk)})
            existing.update(found.scalars())
        statuses: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        rows: list[dict[str, Any]] = []
        claiming = [
            claim
            for action in wanted
            if action.idempotency_key not in existing and action.status in _CLAIMING and action.claims
            for claim in action.claims
        ]
        ledger = await self._claim_ledger(conn, claiming, now) if claiming else None
        for action in wanted:
            if action.idempotency_key in existing:
                continue
            existing.add(action.idempotency_key)
            status, reason = action.status, action.reason
            if ledger is not None and status in _CLAIMING and action.claims:
                refused = ledger.claim(action.claims)
                if refused is not None:
                    status, reason = "suppressed", refused.reason
            if status == "batched":
                result.batched_keys.append(action.idempotency_key)
            if action.settles:
                await self._settle_batched(conn, action, status, reason, now)
            author_id = author_ids.get(action.person.key) if action.person else None
            rows.append(
                {
                    "store_id": store_id,
                    "kind": action.kind,
                    "subtype": action.subtype[:32],
                    "channel": action.channel,
                    "platform": action.platform,
                    "account": action.account,
                    "target": action.target[:200],
                    "origin": action.origin[:300],
                    "author_id": author_id,
                    "lead_id": lead_ids.get(author_id) if author_id is not None else None,
                    "message_id": message_ids.get(action.source_event) if action.source_event else None,
                    "reply_to": action.reply_to,
                    "recipient": action.recipient,
                    "text": action.text,
                    "status": status,
                    "reason": reason[:300],
                    "idempotency_key": action.idempotency_key[:200],
                    "priority": action.priority,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                    "not_before": action.not_before,
                    "echo_expected": action.echo_expected,
                    "deadline": action.deadline,
                }
            )
            statuses[status] += 1
            if status in ("suppressed", "skipped"):
                reasons[reason] += 1
        if ledger is not None:
            await self._save_ledger(conn, ledger)
        rows.sort(key=lambda row: row["idempotency_key"])
        stmt = self._statement(
            "actions", lambda: self._insert(Action).on_conflict_do_nothing(index_elements=[Action.idempotency_key])
        )
        for chunk in chunks(rows, 200):
            await conn.execute(stmt, list(chunk))
        result.actions_by_status = dict(statuses)
        result.suppressed_by_reason = dict(reasons)

    async def _settle_batched(self, conn: AsyncConnection, action: ActionRecord, status: str, reason: str, now: float) -> None:
        """The claim-only rows a room-level message stands for: named in it, or refused with it."""
        if status == "pending":
            settled, why = "included", f"named in {action.idempotency_key}"
        elif status == "shadow":
            settled, why = "shadow", f"named in {action.idempotency_key} (shadow)"
        else:
            settled, why = "suppressed", reason
        for chunk in chunks(list(action.settles)):
            await conn.execute(
                update(Action)
                .where(Action.idempotency_key.in_(list(chunk)), Action.status == "batched")
                .values(status=settled, reason=why[:300], updated_at=now)
            )

    async def _note_broadcasts(
        self, conn: AsyncConnection, store_id: int, batch: Batch, interactions: list[Any], now: float
    ) -> None:
        """Remember announced broadcasts and reminder subscriptions; a live start ends reminders for it."""
        await self._upsert_broadcasts(conn, store_id, batch.broadcasts, now)
        await self._upsert_subscriptions(conn, store_id, batch.subscriptions)
        for item in interactions:
            if item.kind != "live_start":
                continue
            room = item.origin.split(":", 2)[-1]
            # The broadcast this live start belongs to: same platform/room (or any), due within 3 h.
            await conn.execute(
                update(ScheduledBroadcast)
                .where(
                    ScheduledBroadcast.store_id == store_id,
                    ScheduledBroadcast.started_at.is_(None),
                    ScheduledBroadcast.platform.in_(("", item.platform)),
                    ScheduledBroadcast.room.in_(("", room)),
                    ScheduledBroadcast.starts_at.between(item.ts - 3 * 3600, item.ts + 3 * 3600),
                )
                .values(started_at=item.ts)
            )

    async def _upsert_broadcasts(
        self, conn: AsyncConnection, store_id: int, broadcasts: Sequence[BroadcastRecord], now: float
    ) -> None:
        for record in broadcasts:
            stmt = self._insert(ScheduledBroadcast).values(
                store_id=store_id,
                broadcast_id=record.broadcast_id[:200],
                starts_at=record.starts_at,
                title=record.title[:200],
                platform=record.platform[:32],
                account=record.account[:128],
                room=record.room[:200],
                source=record.source[:16],
                created_at=now,
            )
            excluded = stmt.excluded
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[ScheduledBroadcast.store_id, ScheduledBroadcast.broadcast_id],
                    set_={
                        "starts_at": excluded.starts_at,
                        "title": excluded.title,
                        "platform": excluded.platform,
                        "account": excluded.account,
                        "room": excluded.room,
                        "source": excluded.source,
                        # moved to another time: a start seen for the old time no longer counts
                        "started_at": case(
                            (ScheduledBroadcast.starts_at == excluded.starts_at, ScheduledBroadcast.started_at), else_=None
                        ),
                    },
                )
            )

    async def _upsert_subscriptions(
        self, conn: AsyncConnection, store_id: int, subscriptions: Sequence[SubscriptionRecord]
    ) -> None:
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        for sub in subscriptions:
            key = (sub.person.platform, sub.account, sub.person.user_id)
            previous = rows.get(key)
            rows[key] = {
                "store_id": store_id,
                "platform": sub.person.platform[:32],
                "account": sub.account[:128],
                "user_id": sub.person.user_id[:200],
                "nickname": sub.person.nickname[:200],
                "reason": sub.reason[:200],
                "subscribed_at": max(sub.subscribed_at, previous["subscribed_at"]) if previous else sub.subscribed_at,
                "video": sub.video or (previous["video"] if previous else None),
                "comment_id": sub.comment_id or (previous["comment_id"] if previous else None),
            }
        stmt = self._statement("subscriptions", self._build_subscription_upsert)
        for chunk in chunks(list(rows.values())):
            await conn.execute(stmt, list(chunk))

    def _build_subscription_upsert(self) -> Any:
        stmt = self._insert(ReminderSubscription)
        excluded = stmt.excluded
        return stmt.on_conflict_do_update(
            index_elements=[
                ReminderSubscription.store_id,
                ReminderSubscription.platform,
                ReminderSubscription.account,
                ReminderSubscription.user_id,
            ],
            set_={
                "nickname": case((excluded.nickname != "", excluded.nickname), else_=ReminderSubscription.nickname),
                "reason": excluded.reason,
                "subscribed_at": case(
                    (excluded.subscribed_at > ReminderSubscription.subscribed_at, excluded.subscribed_at),
                    else_=ReminderSubscription.subscribed_at,
                ),
                "video": func.coalesce(excluded.video, ReminderSubscription.video),
                "comment_id": func.coalesce(excluded.comment_id, ReminderSubscription.comment_id),
            },
        )

    async def _save_cursors(self, conn: AsyncConnection, batch: Batch, now: float) -> None:
        """Every source's cursor in one statement (sorted: one lock order across workers)."""
        rows = [
            {"source_key": u.source_key, "cursor": u.cursor, "events": u.events, "updated_at": now}
            for u in sorted(batch.cursors.values(), key=lambda u: u.source_key)
        ]
        if not rows:
            return
        await conn.execute(self._statement("cursors", self._build_cursor_upsert), rows)

    def _build_cursor_upsert(self) -> Any:
        stmt = self._insert(SourceCursor)
        return stmt.on_conflict_do_update(
            index_elements=[SourceCursor.source_key],
            set_={
                "cursor": case((stmt.excluded.cursor.is_(None), SourceCursor.cursor), else_=stmt.excluded.cursor),
                "events": SourceCursor.events + stmt.excluded.events,
                "updated_at": stmt.excluded.updated_at,
            },
        )

    # ------------------------------------------------------------------ cursors & flags
    async def get_cursor(self, source_key: str) -> str | None:
        async with self.engine.connect() as conn:
            row = await conn.execute(select(SourceCursor.cursor).where(SourceCursor.source_key == source_key))
            return row.scalar_one_or_none()

    async def get_flag(self, key: str, default: str = "") -> str:
        async with self.engine.connect() as conn:
            row = await conn.execute(select(ControlFlag.value).where(ControlFlag.key == key))
            value = row.scalar_one_or_none()
            return default if value is None else value

    async def get_flags(self, *keys: str) -> dict[str, str]:
        """Several switches in one round trip (the sender polls ``paused`` and ``shadow`` twice a second)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(ControlFlag.key, ControlFlag.value).where(ControlFlag.key.in_(keys)))
            return {key: value for key, value in rows}

    async def set_flag(self, key: str, value: str) -> None:
        async with self.engine.begin() as conn:
            stmt = self._insert(ControlFlag).values(key=key, value=value, updated_at=time.time())
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[ControlFlag.key], set_={"value": value, "updated_at": stmt.excluded.updated_at}
                )
            )

    # ------------------------------------------------------------------ outbox
    async def claim_due_actions(
        self,
        worker: str,
        *,
        platforms: Sequence[tuple[str, str]],
        limit: int,
        claim_timeout_s: float,
        now: float | None = None,
        channels: Sequence[str] | None = None,
    ) -> list[ClaimedAction]:
        """Claim up to ``limit`` due actions for these (platform, account) pairs, priority first.

        A ``sending`` action whose claim expired (its worker died mid-send) is claimed again and
        re-sent with the same idempotency key. ``channels``: only those whose send budget allows
        a send now (None = any). An action past its ``deadline`` is never claimed.
        """
        now = time.time() if now is None else now
        if not platforms:
            return []
        due = or_(
            and_(Action.status == "pending", Action.not_before <= now),
            and_(Action.status == "sending", Action.claim_expires_at < now),
        )
        candidates = (
            select(Action.id)
            .where(
                due,
                tuple_(Action.platform, Action.account).in_(list(platforms)),
                or_(Action.deadline.is_(None), Action.deadline > now),
                *([Action.channel.in_(list(channels))] if channels is not None else []),
            )
            .order_by(Action.priority, Action.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        stmt = (
            update(Action)
            .where(Action.id.in_(candidates.scalar_subquery()))
            .values(
                status="sending",
                claimed_by=worker,
                claim_expires_at=now + claim_timeout_s,
                attempts=Action.attempts + 1,
                updated_at=now,
            )
            .returning(
                Action.id,
                Action.kind,
                Action.subtype,
                Action.channel,
                Action.platform,
                Action.account,
                Action.target,
                Action.text,
                Action.idempotency_key,
                Action.reply_to,
                Action.recipient,
                Action.attempts,
                Action.lead_id,
            )
        )
        async with self.engine.begin() as conn:
            rows = (await conn.execute(stmt)).all()
        claimed = [ClaimedAction(**row._mapping) for row in rows]
        claimed.sort(key=lambda a: a.id)
        return claimed

    async def count_unsent(self, accounts: Sequence[tuple[str, str]]) -> int:
        """Actions still waiting to be sent (pending or mid-send) for these (platform, account)."""
        if not accounts:
            return 0
        async with self.engine.connect() as conn:
            row = await conn.execute(
                select(func.count())
                .select_from(Action)
                .where(
                    Action.status.in_(("pending", "sending")),
                    tuple_(Action.platform, Action.account).in_(list(accounts)),
                )
            )
            return int(row.scalar_one())

    async def expire_claims(self) -> int:
        """Make every in-flight claim immediately re-claimable (single-process SQLite restart)."""
        async with self.engine.begin() as conn:
            rows = await conn.execute(
                update(Action).where(Action.status == "sending").values(claim_expires_at=0.0).returning(Action.id)
            )
            return len(rows.all())

    async def mark_sent(
        self, action_id: int, *, platform_message_id: str | None, echo_expected: bool, now: float | None = None
    ) -> None:
        now = time.time() if now is None else now
        async with self.engine.begin() as conn:
            row = await conn.execute(
                update(Action)
                .where(Action.id == action_id, Action.status == "sending")
                .values(
                    status="sent",
                    sent_at=now,
                    updated_at=now,
                    platform_message_id=platform_message_id,
                    echo_expected=echo_expected,
                    claimed_by=None,
                    claim_expires_at=None,
                    error=None,
                )
                .returning(Action.lead_id)
            )
            lead_id = row.scalar_one_or_none()
            if lead_id is not None:
                await self._set_lead_status(conn, lead_id, "contacted", only_from=("new",), by="agent", now=now)

    async def reschedule(self, action_id: int, *, not_before: float, error: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        async with self.engine.begin() as conn:
            await conn.execute(
                update(Action)
                .where(Action.id == action_id, Action.status == "sending")
                .values(
                    status="pending",
                    not_before=not_before,
                    error=error[:2000],
                    claimed_by=None,
                    claim_expires_at=None,
                    updated_at=now,
                )
            )

    async def release(self, action_id: int) -> None:
        """Give an unsent claim back (pause, shutdown) without counting the attempt."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(Action)
                .where(Action.id == action_id, Action.status == "sending")
                .values(status="pending", claimed_by=None, claim_expires_at=None, attempts=Action.attempts - 1)
            )

    async def mark_failed(self, action_id: int, *, error: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        async with self.engine.begin() as conn:
            await conn.execute(
                update(Action)
                .where(Action.id == action_id)
                .values(status="failed", error=error[:2000], claimed_by=None, claim_expires_at=None, updated_at=now)
            )

    async def flag_undelivered(self, *, older_than: float, now: float | None = None) -> int:
        """Sent messages that never echoed back: the platform probably filtered them."""
        now = time.time() if now is None else now
        async with self.engine.begin() as conn:
            rows = await conn.execute(
                update(Action)
                .where(Action.status == "sent", Action.echo_expected.is_(True), Action.sent_at < older_than)
                .values(status="undelivered", reason="no echo from the platform: probably filtered", updated_at=now)
                .returning(Action.id)
            )
            return len(rows.all())

    async def expire_overdue(self, now: float | None = None) -> int:
        """Pending actions past their deadline (a reminder once the broadcast started): never sent."""
        now = time.time() if now is None else now
        async with self.engine.begin() as conn:
            rows = await conn.execute(
                update(Action)
                .where(Action.status == "pending", Action.deadline.is_not(None), Action.deadline <= now)
                .values(status="expired", reason="stale: past its deadline (e.g. the broadcast already started)", updated_at=now)
                .returning(Action.id)
            )
            return len(rows.all())

    async def purge_expired_counters(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        async with self.engine.begin() as conn:
            await conn.execute(delete(CapCounter).where(CapCounter.expires_at < now))

    # ------------------------------------------------------------------ greetings & reminders
    async def batched_greetings(self, accounts: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Claim-only greeting rows not yet named in a batch (a previous run stopped first)."""
        if not accounts:
            return []
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    Action.idempotency_key, Action.platform, Action.account, Action.target, Action.created_at,
                    Author.platform.label("person_platform"), Author.platform_user_id, Author.nickname,
                )
                .join(Author, Author.id == Action.author_id)
                .where(
                    Action.status == "batched",
                    Action.kind == "greeting",
                    tuple_(Action.platform, Action.account).in_(list(accounts)),
                )
                .order_by(Action.id)
            )
            return [dict(row._mapping) for row in rows]

    async def dm_window(self, platform: str, account: str, user_id: str, now: float | None = None) -> DmWindowRecord | None:
        """The open private-message reply window for this person, if any (any worker stored it)."""
        store_id = await self.ensure_store()
        async with self.engine.connect() as conn:
            return await open_window(conn, store_id, platform, account, user_id, time.time() if now is None else now)

    async def open_dm_windows(
        self, keys: Sequence[tuple[str, str, str]], now: float
    ) -> dict[tuple[str, str, str], float]:
        """(platform, account, user id) -> until, for the keys whose window is open at ``now``."""
        store_id = await self.ensure_store()
        async with self.engine.connect() as conn:
            return await open_windows(conn, store_id, keys, now)

    async def upsert_broadcasts(self, broadcasts: Sequence[BroadcastRecord], now: float | None = None) -> None:
        store_id = await self.ensure_store()
        async with self.engine.begin() as conn:
            await self._upsert_broadcasts(conn, store_id, broadcasts, time.time() if now is None else now)

    async def list_broadcasts(self, *, after: float | None = None) -> list[dict[str, Any]]:
        """Scheduled broadcasts, soonest first (``after``: only those starting later)."""
        store_id = await self.ensure_store()
        query = select(ScheduledBroadcast).where(ScheduledBroadcast.store_id == store_id)
        if after is not None:
            query = query.where(ScheduledBroadcast.starts_at > after)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query.order_by(ScheduledBroadcast.starts_at, ScheduledBroadcast.id))
            return [
                {column: getattr(row, column) for column in (
                    "broadcast_id", "starts_at", "title", "platform", "account", "room", "source", "started_at"
                )}
                for row in rows
            ]

    async def remove_broadcast(self, broadcast_id: str) -> bool:
        store_id = await self.ensure_store()
        async with self.engine.begin() as conn:
            rows = await conn.execute(
                delete(ScheduledBroadcast)
                .where(ScheduledBroadcast.store_id == store_id, ScheduledBroadcast.broadcast_id == broadcast_id)
                .returning(ScheduledBroadcast.id)
            )
            return bool(rows.all())

    async def reminder_subscribers(self, *, since: float, accounts: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """People subscribed to reminders since ``since`` on these (platform, account) pairs."""
        store_id = await self.ensure_store()
        if not accounts:
            return []
        window = DmReplyWindow
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(ReminderSubscription, window.until.label("dm_window_until"))
                .outerjoin(
                    window,
                    (window.store_id == ReminderSubscription.store_id)
                    & (window.platform == ReminderSubscription.platform)
                    & (window.account == ReminderSubscription.account)
                    & (window.user_id == ReminderSubscription.user_id),
                )
                .where(
                    ReminderSubscription.store_id == store_id,
                    ReminderSubscription.subscribed_at >= since,
                    tuple_(ReminderSubscription.platform, ReminderSubscription.account).in_(list(accounts)),
                )
                .order_by(ReminderSubscription.id)
            )
            return [
                {column: getattr(row, column) for column in (
                    "platform", "account", "user_id", "nickname", "reason", "subscribed_at", "video", "comment_id",
                    "dm_window_until",  # a private-message reply window they opened (Douyin Open), if any
                )}
                for row in rows
            ]

    async def existing_keys(self, prefix: str) -> set[str]:
        """Idempotency keys already in the outbox that start with ``prefix`` (e.g. ``reminder:{id}:``)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(Action.idempotency_key).where(Action.idempotency_key.startswith(prefix, autoescape=True))
            )
            return set(rows.scalars())

    # ------------------------------------------------------------------ leads
    async def _set_lead_status(
        self,
        conn: AsyncConnection,
        lead_id: int,
        status: str,
        *,
        only_from: Sequence[str] | None = None,
        by: str,
        now: float,
    ) -> bool:
        current = (await conn.execute(select(Lead.status).where(Lead.id == lead_id))).scalar_one_or_none()
        if current is None or current == status or (only_from is not None and current not in only_from):
            return False
        await conn.execute(update(Lead).where(Lead.id == lead_id).values(status=status))
        await conn.execute(
            self._insert(LeadStatusChange).values(
                lead_id=lead_id, old_status=current, new_status=status, changed_at=now, changed_by=by
            )
        )
        return True

    async def set_lead_status(self, lead_ids: Sequence[int], status: str, *, by: str = "user") -> int:
        if status not in LEAD_STATUSES:
            raise ValueError(f"status {status!r}: must be one of {', '.join(LEAD_STATUSES)}")
        changed = 0
        async with self.engine.begin() as conn:
            for lead_id in lead_ids:
                changed += await self._set_lead_status(conn, lead_id, status, by=by, now=time.time())
        return changed

    async def counts(self) -> dict[str, Any]:
        """Figures for the end-of-run summary."""
        async with self.engine.connect() as conn:
            messages = (await conn.execute(select(func.count()).select_from(Message))).scalar_one()
            leads = (await conn.execute(select(func.count()).select_from(Lead))).scalar_one()
            by_intent = dict(
                (await conn.execute(select(LeadIntent.intent, func.count()).group_by(LeadIntent.intent))).all()
            )
            by_status = dict((await conn.execute(select(Action.status, func.count()).group_by(Action.status))).all())
            reasons = dict(
                (
                    await conn.execute(
                        select(Action.reason, func.count())
                        .where(
                            Action.status.in_(("suppressed", "skipped")),
                            # a refused batched greeting is counted through the people it would have named
                            ~and_(Action.kind == "greeting", Action.subtype == "batch"),
                        )
                        .group_by(Action.reason)
                    )
                ).all()
            )
            by_kind = dict(
                (
                    await conn.execute(
                        select(Action.kind, func.count())
                        .where(Action.status.in_(("sent", "delivered", "undelivered")))
                        .group_by(Action.kind)
                    )
                ).all()
            )
        return {
            "messages": messages,
            "leads": leads,
            "leads_by_intent": by_intent,
            "actions_by_status": by_status,
            "suppressed_by_reason": reasons,
            "sent_by_kind": by_kind,
        }
