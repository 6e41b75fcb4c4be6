"""revoked_sessions: dashboard sessions ended by logging out

Revision ID: 0006_revoked_sessions
Revises: 0005_dm_reply_windows
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_revoked_sessions"
down_revision = "0005_dm_reply_windows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_sessions",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )


def downgrade() -> None:
    op.drop_table("revoked_sessions")
