"""alerts.sender: the Alertmanager (externalURL) whose webhook last carried the alert

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-05 22:30:00.000000

Reconciliation resolves an alert that no Alertmanager it reads lists any more. An
Alertmanager that sends to the bridge but is missing from BRIDGE_ALERTMANAGER_URL lists
its alerts to nobody the bridge asks: without knowing who sent an alert, every alert of
that Alertmanager was resolved a minute after it paged. Existing rows get NULL (sender
unknown), which reconciliation treats as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0012'
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases (SQLite has DROP COLUMN since 3.35), never batch
# mode: on SQLite that copies `alerts` into a new table and drops the old one, and with
# foreign keys on, dropping it deletes every delivery (ON DELETE CASCADE).
def upgrade() -> None:
    op.add_column('alerts', sa.Column('sender', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('alerts', 'sender')
