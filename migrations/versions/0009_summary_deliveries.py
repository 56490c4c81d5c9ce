"""outbox: a delivery may be about no single alert (the channel summary)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 15:30:00.000000

The scheduled channel summary used to be posted straight from the job, with
its own client and no attempt record. It now goes through the outbox like
every other Slack message (same sender, retries and dead letters), so an
outbox row's alert may be absent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.alter_column('alert_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute(sa.text('DELETE FROM deliveries WHERE alert_id IS NULL'))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.alter_column('alert_id', existing_type=sa.Integer(), nullable=False)
