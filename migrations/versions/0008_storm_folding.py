"""storms: a storming alert name's further firings fold into one storm incident

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 15:30:00.000000

One row per storm incident; at most one open storm per alert name, enforced by a
partial unique index so that replicas folding the same storm at once create one
row between them. Each alert records the storm its current firing was folded
into (NULL: paged on its own).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_OPEN = "ended_at IS NULL"


def upgrade() -> None:
    op.create_table(
        'storms',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('alertname', sa.String(length=255), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.Column('last_fired_at', sa.DateTime(), nullable=False),
        sa.Column('fired_count', sa.Integer(), nullable=False),
        sa.Column('anchor_alert_id', sa.Integer(), nullable=False),
        sa.Column('channels', sa.JSON(), nullable=False),
        sa.Column('pagerduty_pending', sa.Boolean(), nullable=False),
        sa.Column('pagerduty_claimed_at', sa.DateTime(), nullable=True),
        sa.Column('slack_pending', sa.Boolean(), nullable=False),
        sa.Column('slack_claimed_at', sa.DateTime(), nullable=True),
        sa.Column('slack_channel', sa.String(length=64), nullable=True),
        sa.Column('slack_ts', sa.String(length=32), nullable=True),
        sa.Column('slack_nodes', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_storms')),
    )
    op.create_index(
        'uq_storms_open_alertname',
        'storms',
        ['alertname'],
        unique=True,
        sqlite_where=sa.text(_OPEN),
        postgresql_where=sa.text(_OPEN),
    )
    op.create_index(op.f('ix_storms_alertname_started_at'), 'storms', ['alertname', 'started_at'])
    # Plain ADD/DROP COLUMN, never a batch copy of `alerts`: on SQLite the copy drops
    # the table, and the foreign keys pointing at it would cascade-delete every delivery
    # and transition. (So no foreign key to `storms` either: SQLite cannot add one
    # without that copy.)
    op.add_column('alerts', sa.Column('storm_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_alerts_storm_id'), 'alerts', ['storm_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_alerts_storm_id'), table_name='alerts')
    op.execute('ALTER TABLE alerts DROP COLUMN storm_id')
    op.drop_index(op.f('ix_storms_alertname_started_at'), table_name='storms')
    op.drop_index('uq_storms_open_alertname', table_name='storms')
    op.drop_table('storms')
