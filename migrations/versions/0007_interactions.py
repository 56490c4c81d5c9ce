"""interactions: acts from Slack and PagerDuty, and each episode's response

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 15:20:00.000000

`interactions` records each act once (its unique `key` makes Slack retries,
double clicks and PagerDuty redeliveries act once, across replicas);
`alert_responses` holds what the Slack message shows about one episode of an
alert: who acknowledged, who silenced until when, and PagerDuty's state.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'interactions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=True),
        sa.Column('actor', sa.String(length=255), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ['alert_id'], ['alerts.id'],
            name=op.f('fk_interactions_alert_id_alerts'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_interactions')),
        sa.UniqueConstraint('key', name=op.f('uq_interactions_key')),
    )
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_interactions_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_interactions_at'), ['at'], unique=False)

    op.create_table(
        'alert_responses',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column('starts_at', sa.DateTime(), nullable=False),
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
            ['alert_id'], ['alerts.id'],
            name=op.f('fk_alert_responses_alert_id_alerts'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_responses')),
        sa.UniqueConstraint(
            'alert_id', 'starts_at', name=op.f('uq_alert_responses_alert_id_starts_at')
        ),
    )
    with op.batch_alter_table('alert_responses', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_alert_responses_pd_incident_id'), ['pd_incident_id'], unique=False
        )


def downgrade() -> None:
    op.drop_table('alert_responses')
    op.drop_table('interactions')
