"""outbox: partial indexes for the queue

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 20:05:00.000000

Claims read (status, next_attempt_at) and filtered channels row by row, so a
backlog of paced PagerDuty events was read again by every claim of a Slack
message; and with no statistics SQLite took that index for any `status = ?`,
scanning every pending row to claim rows it already knew by id. Partial
indexes over the rows of one state each (pending per channel, in flight, dead)
serve the queue's queries and leave lookups by id and batch key to their own
indexes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_PARTIAL = {
    'ix_deliveries_pending': (['channel', 'next_attempt_at'], "status = 'pending'"),
    'ix_deliveries_in_flight': (['claimed_until'], "status = 'in_flight'"),
    'ix_deliveries_dead': (['finished_at'], "status = 'dead'"),
}


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_status_next_attempt_at'))
    for name, (columns, where) in _PARTIAL.items():
        op.create_index(
            name,
            'deliveries',
            columns,
            unique=False,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    for name in _PARTIAL:
        op.drop_index(name, table_name='deliveries')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_deliveries_status_next_attempt_at'),
            ['status', 'next_attempt_at'],
            unique=False,
        )
