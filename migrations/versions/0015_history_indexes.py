"""indexes so that no hot statement reads the whole history (issue 23)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 18:45:00.000000

With 30 days of a fleet's history (100,000 alerts, a million deliveries), three hot
statements read a whole table on both databases (tests/integration/test_query_plans.py):
- retention and the summaries select deliveries by `finished_at`;
- the console's node list walks the distinct nodes of `alerts` and each node's last change;
- the flap-settling job looks for the few alerts with `flapping_since` set;
- PagerDuty pacing counts the attempts of the last minute (every second, in every
  replica's delivery process) by `started_at`.
Additive only: new indexes, nothing else changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

FLAPPING_SQL = 'flapping_since IS NOT NULL'


def upgrade() -> None:
    op.create_index('ix_deliveries_finished_at', 'deliveries', ['finished_at'])
    op.create_index('ix_delivery_attempts_started_at', 'delivery_attempts', ['started_at'])
    op.create_index('ix_alerts_node_last_change_at', 'alerts', ['node', 'last_change_at'])
    op.create_index(
        'ix_alerts_flapping',
        'alerts',
        ['flapping_since'],
        sqlite_where=sa.text(FLAPPING_SQL),
        postgresql_where=sa.text(FLAPPING_SQL),
    )


def downgrade() -> None:
    op.drop_index('ix_alerts_flapping', table_name='alerts')
    op.drop_index('ix_alerts_node_last_change_at', table_name='alerts')
    op.drop_index('ix_delivery_attempts_started_at', table_name='delivery_attempts')
    op.drop_index('ix_deliveries_finished_at', table_name='deliveries')
