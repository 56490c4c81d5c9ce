"""console sessions held by the database: absolute expiry and revocation

Revision ID: 0012
Revises: 0013
Create Date: 2026-12-05 19:00:00.000000

A console session used to live in its signed cookie only: signing out could not
revoke a copied cookie, and the page's 15 s refresh re-signed the cookie, so an open
tab never expired. The cookie now carries a random id whose hash is a row here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'console_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_console_sessions')),
    )
    op.create_index(
        op.f('ix_console_sessions_expires_at'), 'console_sessions', ['expires_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_console_sessions_expires_at'), table_name='console_sessions')
    op.drop_table('console_sessions')
