"""reconcile: what Alertmanager's /api/v2/alerts showed of each alert, and the round lease

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-05 18:45:00.000000

Reconciliation (bridge/reconcile) reads every Alertmanager's alerts each interval.
It remembers per fingerprint the state last seen there (a silenced or inhibited
alert never resolves by webhook: Alertmanager's issue 226), the consecutive rounds
an alert was absent or unknown, and the reason it gave for a resolve. One status
row is the lease that keeps replicas to one round at a time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'am_observations',
        sa.Column('fingerprint', sa.String(length=128), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('muted', sa.String(length=16), nullable=True),
        sa.Column('muted_by', sa.Text(), nullable=True),
        sa.Column('absent_rounds', sa.Integer(), nullable=False),
        sa.Column('unknown_rounds', sa.Integer(), nullable=False),
        sa.Column('seen_at', sa.DateTime(), nullable=True),
        sa.Column('resolve_reason', sa.Text(), nullable=True),
        sa.Column('resolved_starts_at', sa.DateTime(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('fingerprint', name=op.f('pk_am_observations')),
    )
    status = op.create_table(
        'reconcile_status',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('running_by', sa.String(length=64), nullable=True),
        sa.Column('running_until', sa.DateTime(), nullable=True),
        sa.Column('last_round_at', sa.DateTime(), nullable=True),
        sa.Column('last_outcome', sa.String(length=16), nullable=True),
        sa.Column('last_detail', sa.Text(), nullable=False),
        sa.Column('last_success_at', sa.DateTime(), nullable=True),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reconcile_status')),
    )
    # The lease row exists from the start: taking it is then always an update.
    op.bulk_insert(status, [{'id': 1, 'last_detail': '', 'failures': 0}])


def downgrade() -> None:
    op.drop_table('reconcile_status')
    op.drop_table('am_observations')
