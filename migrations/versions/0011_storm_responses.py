"""storm_responses: what people did about a storm incident

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-05 19:00:00.000000

A storm's Slack message carries Acknowledge and Silence, and PagerDuty's events
for the storm's incident are shown on it: one row per storm holds who
acknowledged, who silenced until when, and PagerDuty's state, as
`alert_responses` does for one episode of an alert.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'storm_responses',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('storm_id', sa.Integer(), nullable=False),
        sa.Column('acked_by', sa.String(length=255), nullable=True),
        sa.Column('acked_at', sa.DateTime(), nullable=True),
        sa.Column('ack_source', sa.String(length=16), nullable=True),
        sa.Column('silenced_by', sa.String(length=255), nullable=True),
        sa.Column('silenced_until', sa.DateTime(), nullable=True),
        sa.Column('window_id', sa.String(length=36), nullable=True),
        sa.Column('pd_incident_id', sa.String(length=64), nullable=True),
        sa.Column('pd_incident_url', sa.Text(), nullable=True),
        sa.Column('pd_status', sa.String(length=16), nullable=True),
        sa.Column('pd_status_at', sa.DateTime(), nullable=True),
        sa.Column('pd_responder', sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ['storm_id'], ['storms.id'],
            name=op.f('fk_storm_responses_storm_id_storms'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_storm_responses')),
        sa.UniqueConstraint('storm_id', name=op.f('uq_storm_responses_storm_id')),
    )
    with op.batch_alter_table('storm_responses', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_storm_responses_pd_incident_id'), ['pd_incident_id'], unique=False
        )


def downgrade() -> None:
    op.drop_table('storm_responses')
