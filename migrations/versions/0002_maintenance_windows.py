"""maintenance windows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 16:25:23.019438
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('windows',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('matchers', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=True),
    sa.Column('cron', sa.String(length=120), nullable=True),
    sa.Column('duration_seconds', sa.Float(), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('expired_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_windows'))
    )
    op.create_table('window_occurrences',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('window_id', sa.String(length=36), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('am_silences', sa.JSON(), nullable=False),
    sa.Column('sync_state', sa.String(length=16), nullable=False),
    sa.Column('sync_error', sa.Text(), nullable=True),
    sa.Column('synced_at', sa.DateTime(), nullable=True),
    sa.Column('sync_claimed_until', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['window_id'], ['windows.id'], name=op.f('fk_window_occurrences_window_id_windows'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_window_occurrences')),
    sa.UniqueConstraint('window_id', 'starts_at', name=op.f('uq_window_occurrences_window_id_starts_at'))
    )
    with op.batch_alter_table('window_occurrences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_window_occurrences_ends_at'), ['ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_window_occurrences_sync_state'), ['sync_state'], unique=False)
        batch_op.create_index(batch_op.f('ix_window_occurrences_window_id'), ['window_id'], unique=False)

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suppressed_by', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_alerts_suppressed_by'), ['suppressed_by'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_suppressed_by'))
        batch_op.drop_column('suppressed_by')

    with op.batch_alter_table('window_occurrences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_window_occurrences_window_id'))
        batch_op.drop_index(batch_op.f('ix_window_occurrences_sync_state'))
        batch_op.drop_index(batch_op.f('ix_window_occurrences_ends_at'))

    op.drop_table('window_occurrences')
    op.drop_table('windows')
