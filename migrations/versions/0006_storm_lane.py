"""outbox: a storm lane, so a new problem's page is not queued behind a storm's

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 22:40:00.000000

PagerDuty is paced (about 100 events a minute), so a storm of thousands of
alerts queues its pages for over an hour, and a page for an unrelated problem
used to wait behind all of them. Each delivery now carries a priority: 0 for
the first changes of an alert name in a window, 1 (the storm lane) beyond.
Claims take priority 0 first. Transitions get an index by (alertname, at) for
the count that decides it; the pending index leads with the priority so claims
still read only the rows they take.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_PENDING = 'ix_deliveries_pending'
_WHERE = "status = 'pending'"


def _pending_index(columns: list[str]) -> None:
    op.create_index(
        _PENDING,
        'deliveries',
        columns,
        unique=False,
        sqlite_where=sa.text(_WHERE),
        postgresql_where=sa.text(_WHERE),
    )


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('priority', sa.SmallInteger(), server_default=sa.text('0'), nullable=False)
        )
    op.drop_index(_PENDING, table_name='deliveries')
    _pending_index(['channel', 'priority', 'next_attempt_at', 'id'])
    op.create_index(
        op.f('ix_alert_transitions_alertname_at'), 'alert_transitions', ['alertname', 'at']
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_alert_transitions_alertname_at'), table_name='alert_transitions')
    op.drop_index(_PENDING, table_name='deliveries')
    _pending_index(['channel', 'next_attempt_at', 'id'])
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('priority')
