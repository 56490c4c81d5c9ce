"""windows: lone surrogates in stored matchers become U+FFFD

Revision ID: 0013
Revises: 0015
Create Date: 2026-12-05 19:15:00.000000

Before window fields were validated, a matcher value could carry a lone surrogate
(`"\\ud800"` in the request's JSON). The JSON column kept it escaped, but no page can
encode it: `/` and `/windows` answered 500 for everyone, and kept doing so after the
window expired, until 20 newer windows had expired. Such a value never matched an
alert (the webhook refuses surrogates), so the replacement character changes no
window's effect. Data only; nothing to undo.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0015'
branch_labels = None
depends_on = None


def _repair(value: Any) -> Any:
    if isinstance(value, str):
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    if isinstance(value, list):
        return [_repair(v) for v in value]
    if isinstance(value, dict):
        return {_repair(k): _repair(v) for k, v in value.items()}
    return value


def upgrade() -> None:
    windows = sa.table('windows', sa.column('id', sa.String), sa.column('matchers', sa.JSON))
    conn = op.get_bind()
    for row in conn.execute(sa.select(windows.c.id, windows.c.matchers)).all():
        repaired = _repair(row.matchers)
        if repaired != row.matchers:
            conn.execute(windows.update().where(windows.c.id == row.id).values(matchers=repaired))


def downgrade() -> None:
    pass
