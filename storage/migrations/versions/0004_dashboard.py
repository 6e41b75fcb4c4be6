"""dashboard: keyword list versions, keyword feedback, indexes for lead paging and reports

Revision ID: 0004_dashboard
Revises: 0003_schedule
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004_dashboard'
down_revision = '0003_schedule'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('keyword_list_versions',
    sa.Column('id', ID, nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('comment', sa.String(length=300), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('keyword_list_versions', schema=None) as batch_op:
        batch_op.create_index('ix_keyword_list_versions_name', ['name', 'id'], unique=False)

    op.create_table('keyword_feedback',
    sa.Column('id', ID, nullable=False),
    sa.Column('message_id', ID, nullable=False),
    sa.Column('keyword', sa.String(length=100), nullable=False),
    sa.Column('intent', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id', 'keyword')
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index('ix_leads_first_seen', ['first_seen_at'], unique=False)
        batch_op.create_index('ix_leads_score', ['score'], unique=False)
        batch_op.create_index('ix_leads_status_last_seen', ['status', 'last_seen_at'], unique=False)
    with op.batch_alter_table('lead_intents', schema=None) as batch_op:
        batch_op.create_index('ix_lead_intents_intent', ['intent', 'lead_id'], unique=False)
    with op.batch_alter_table('lead_products', schema=None) as batch_op:
        batch_op.create_index('ix_lead_products_product', ['product', 'lead_id'], unique=False)
    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.create_index('ix_matches_ts', ['ts'], unique=False)
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.create_index('ix_interactions_kind_ts', ['kind', 'ts'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_index('ix_interactions_kind_ts')
    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.drop_index('ix_matches_ts')
    with op.batch_alter_table('lead_products', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_products_product')
    with op.batch_alter_table('lead_intents', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_intents_intent')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_status_last_seen')
        batch_op.drop_index('ix_leads_score')
        batch_op.drop_index('ix_leads_first_seen')
    op.drop_table('keyword_feedback')
    with op.batch_alter_table('keyword_list_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_keyword_list_versions_name')
    op.drop_table('keyword_list_versions')
