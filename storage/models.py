"""The database schema (SQLAlchemy 2 declarative). Alembic migrations mirror this file.

Times are unix seconds (float) everywhere: portable between SQLite and PostgreSQL, cheap to
compare, and exactly what the events carry. JSON columns hold small explanation payloads only;
anything the dashboard filters on has its own column or table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only autoincrements INTEGER PRIMARY KEY


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Store(Base):
    """A merchant. Leads are per store; a store binds several accounts (an account matrix)."""

    __tablename__ = "stores"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Account(Base):
    """One of the store's platform accounts (the identity we read and send as)."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("store_id", "platform", "account_key"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    platform: Mapped[str] = mapped_column(String(32))
    account_key: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200), default="")


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("platform", "room_key"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    platform: Mapped[str] = mapped_column(String(32))
    room_key: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(300), default="")
    is_live: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    live_started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    live_ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = (UniqueConstraint("platform", "video_key"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    platform: Mapped[str] = mapped_column(String(32))
    video_key: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300), default="")


class Author(Base):
    """A person as seen by one store on one platform: the fan portrait."""

    __tablename__ = "authors"
    __table_args__ = (UniqueConstraint("store_id", "platform", "platform_user_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    platform: Mapped[str] = mapped_column(String(32))
    platform_user_id: Mapped[str] = mapped_column(String(200))
    nickname: Mapped[str] = mapped_column(String(200), default="")
    fan_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    badge: Mapped[str | None] = mapped_column(String(100), nullable=True)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    first_seen_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    is_following: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    followed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    first_source: Mapped[str] = mapped_column(String(300), default="")  # origin label, e.g. bilibili:live:123


class Message(Base):
    """Every chat line and comment read, raw text kept. Unique per platform message id."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("platform", "platform_msg_id"),
        Index("ix_messages_author", "author_id"),
        Index("ix_messages_ts", "ts"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    platform: Mapped[str] = mapped_column(String(32))
    platform_msg_id: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    origin: Mapped[str] = mapped_column(String(300))  # platform:kind:key
    kind: Mapped[str] = mapped_column(String(16))  # chat | dm
    text: Mapped[str] = mapped_column(Text)
    ts: Mapped[float] = mapped_column(Float)
    received_at: Mapped[float] = mapped_column(Float)
    decided_at: Mapped[float] = mapped_column(Float)
    is_self: Mapped[bool] = mapped_column(Boolean, default=False)
    primary_intent: Mapped[str] = mapped_column(String(16), default="none")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    matcher_version: Mapped[str] = mapped_column(String(64), default="")


class Interaction(Base):
    """Non-chat events worth keeping: follows, gifts, live start/end (one row per platform event)."""

    __tablename__ = "interactions"
    __table_args__ = (UniqueConstraint("platform", "platform_event_id"), Index("ix_interactions_kind_ts", "kind", "ts"))
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    platform: Mapped[str] = mapped_column(String(32))
    platform_event_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("authors.id"), nullable=True)
    origin: Mapped[str] = mapped_column(String(300))
    ts: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Lead(Base):
    """A person who expressed purchase intent, per store. Intents/products live in side tables."""

    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("store_id", "author_id"),
        Index("ix_leads_last_seen", "last_seen_at"),
        # dashboard sorts and filters (migration 0002)
        Index("ix_leads_first_seen", "first_seen_at"),
        Index("ix_leads_score", "score"),
        Index("ix_leads_status_last_seen", "status", "last_seen_at"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    status: Mapped[str] = mapped_column(String(16), default="new")  # new contacted won lost ignored
    score: Mapped[float] = mapped_column(Float, default=0.0)
    first_seen_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    first_origin: Mapped[str] = mapped_column(String(300), default="")
    last_text: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")


class LeadIntent(Base):
    __tablename__ = "lead_intents"
    __table_args__ = (Index("ix_lead_intents_intent", "intent", "lead_id"),)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), primary_key=True)
    intent: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[float] = mapped_column(Float)
    last_at: Mapped[float] = mapped_column(Float)


class LeadProduct(Base):
    __tablename__ = "lead_products"
    __table_args__ = (Index("ix_lead_products_product", "product", "lead_id"),)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), primary_key=True)
    product: Mapped[str] = mapped_column(String(100), primary_key=True)  # product id, or "#3" link number
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[float] = mapped_column(Float)


class LeadStatusChange(Base):
    __tablename__ = "lead_status_history"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    old_status: Mapped[str] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[float] = mapped_column(Float)
    changed_by: Mapped[str] = mapped_column(String(100), default="")


class MatchRow(Base):
    """One keyword hit of one message, with its explanation (accepted or rejected)."""

    __tablename__ = "matches"
    __table_args__ = (
        Index("ix_matches_message", "message_id"),
        Index("ix_matches_keyword", "keyword"),
        Index("ix_matches_ts", "ts"),  # question board, keyword hit counts (migration 0002)
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), nullable=True)
    intent: Mapped[str] = mapped_column(String(16))
    keyword: Mapped[str] = mapped_column(String(100))
    rule: Mapped[str] = mapped_column(String(32))
    span_start: Mapped[int] = mapped_column(Integer)
    span_end: Mapped[int] = mapped_column(Integer)
    matched: Mapped[str] = mapped_column(String(200))
    accepted: Mapped[bool] = mapped_column(Boolean)
    rejected_because: Mapped[str | None] = mapped_column(String(200), nullable=True)
    product: Mapped[str | None] = mapped_column(String(100), nullable=True)
    link_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ts: Mapped[float] = mapped_column(Float)


class Action(Base):
    """The outbox: every decision to touch a person, written before anything is sent.

    status: pending → sending → sent → delivered | undelivered; or failed, suppressed (cap),
    skipped (not allowed on this channel), shadow (decided in shadow mode), cancelled.
    """

    __tablename__ = "actions"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_actions_due", "status", "not_before"),
        Index("ix_actions_lead", "lead_id"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    kind: Mapped[str] = mapped_column(String(16))  # reply | greeting | reminder
    subtype: Mapped[str] = mapped_column(String(32), default="")
    channel: Mapped[str] = mapped_column(String(24))  # public_reply | live_chat | private_message
    platform: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(128))
    target: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(300), default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("authors.id"), nullable=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), nullable=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    reply_to: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recipient: Mapped[str | None] = mapped_column(String(200), nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(300), default="")
    idempotency_key: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=0)  # lower sends first
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    not_before: Mapped[float] = mapped_column(Float, default=0.0)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    claim_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    echo_expected: Mapped[bool] = mapped_column(Boolean, default=False)
    platform_message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Useless after this moment (a reminder: the broadcast start); never claimed later, expired instead.
    deadline: Mapped[float | None] = mapped_column(Float, nullable=True)


class CapCounter(Base):
    """Atomic cap ledger: one row per (limit, window); incremented only while within ``cap``."""

    __tablename__ = "cap_counters"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    cap: Mapped[int] = mapped_column(Integer)
    holder: Mapped[str] = mapped_column(String(32), default="")  # touch type holding a conflict counter
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class SourceCursor(Base):
    """Where each source resumes; written in the same transaction as the events' effects."""

    __tablename__ = "source_cursors"
    source_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[float] = mapped_column(Float)


class SourceLease(Base):
    """Which worker reads a source (several workers share one PostgreSQL database)."""

    __tablename__ = "source_leases"
    source_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[float] = mapped_column(Float)


class ControlFlag(Base):
    """Persisted switches: ``paused`` (kill switch), ``shadow``."""

    __tablename__ = "control_flags"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[float] = mapped_column(Float)


class KeywordListVersion(Base):
    """Every version of a merchant keyword list published from the dashboard (history + rollback)."""

    __tablename__ = "keyword_list_versions"
    __table_args__ = (Index("ix_keyword_list_versions_name", "name", "id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))  # the list file, as written in config (extra_lists)
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    comment: Mapped[str] = mapped_column(String(300), default="")


class KeywordFeedback(Base):
    """A person's verdict on one keyword hit: e.g. a false positive, exported as labelled TSV."""

    __tablename__ = "keyword_feedback"
    __table_args__ = (UniqueConstraint("message_id", "keyword"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    keyword: Mapped[str] = mapped_column(String(100))
    intent: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(16))  # the correct intent for the message ("none" for a false positive)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class ScheduledBroadcast(Base):
    """An upcoming broadcast: from ``[[schedule]]``, ``leadbot schedule add`` or a ``LiveScheduled`` event.

    ``platform`` / ``account`` / ``room`` empty = every one of the store's accounts.
    ``started_at`` is set when a matching ``LiveStarted`` arrived (no reminder after that).
    """

    __tablename__ = "scheduled_broadcasts"
    __table_args__ = (UniqueConstraint("store_id", "broadcast_id"), Index("ix_scheduled_broadcasts_start", "starts_at"))
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    broadcast_id: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[float] = mapped_column(Float)
    title: Mapped[str] = mapped_column(String(200), default="")
    platform: Mapped[str] = mapped_column(String(32), default="")
    account: Mapped[str] = mapped_column(String(128), default="")
    room: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(16), default="cli")  # config | cli | event
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class ReminderSubscription(Base):
    """A person who wants to hear about the next broadcast (asked "明天还播吗", or showed intent)."""

    __tablename__ = "reminder_subscriptions"
    __table_args__ = (
        UniqueConstraint("store_id", "platform", "account", "user_id"),
        Index("ix_reminder_subscriptions_at", "subscribed_at"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    platform: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(200))
    nickname: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(String(200), default="")
    subscribed_at: Mapped[float] = mapped_column(Float)
    # Where a public reply could reach them: the video and their comment (video comments only).
    video: Mapped[str | None] = mapped_column(String(200), nullable=True)
    comment_id: Mapped[str | None] = mapped_column(String(200), nullable=True)


class DmReplyWindow(Base):
    """A private-message reply window a platform opened (Douyin Open: 24 h after the person's own
    DM or DM-page visit), with what a reply must quote. In the database, not in the process that
    received the webhook, so any worker's sender — and a restarted one — may answer inside it."""

    __tablename__ = "dm_reply_windows"
    __table_args__ = (UniqueConstraint("store_id", "platform", "account", "user_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    platform: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(200))
    msg_id: Mapped[str] = mapped_column(String(200))  # the inbound message a reply answers
    conversation_id: Mapped[str] = mapped_column(String(200))
    scene: Mapped[str] = mapped_column(String(64))
    until: Mapped[float] = mapped_column(Float)


class RevokedSession(Base):
    """A dashboard session ended by logging out: its signed cookie is refused from then on,
    even if it was copied, until it would have expired anyway (then the row is pruned)."""

    __tablename__ = "revoked_sessions"
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float)
