"""live reminders: scheduled broadcasts, reminder subscriptions, action deadlines

Revision ID: 0003_schedule
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_schedule"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "scheduled_broadcasts",
        sa.Column("id", ID, nullable=False),
        sa.Column("store_id", ID, nullable=False),
        sa.Column("broadcast_id", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.Float(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("room", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("store_id", "broadcast_id"),
    )
    with op.batch_alter_table("scheduled_broadcasts", schema=None) as batch_op:
        batch_op.create_index("ix_scheduled_broadcasts_start", ["starts_at"], unique=False)

    op.create_table(
        "reminder_subscriptions",
        sa.Column("id", ID, nullable=False),
        sa.Column("store_id", ID, nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("nickname", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("subscribed_at", sa.Float(), nullable=False),
        sa.Column("video", sa.String(length=200), nullable=True),
        sa.Column("comment_id", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("store_id", "platform", "account", "user_id"),
    )
    with op.batch_alter_table("reminder_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_reminder_subscriptions_at", ["subscribed_at"], unique=False)

    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deadline", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_column("deadline")
    with op.batch_alter_table("reminder_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_reminder_subscriptions_at")
    op.drop_table("reminder_subscriptions")
    with op.batch_alter_table("scheduled_broadcasts", schema=None) as batch_op:
        batch_op.drop_index("ix_scheduled_broadcasts_start")
    op.drop_table("scheduled_broadcasts")
