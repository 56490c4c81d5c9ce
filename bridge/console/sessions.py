"""Console sessions in the database (the I/O edge of bridge/console/access.py).

The signed cookie carries a random session id; the `console_sessions` row (keyed by the
id's SHA-256, so the table holds no usable cookie) says when the session ends and whether
it was revoked. Every replica reads the same rows, so signing out on one ends the session
everywhere, and a copied cookie stops working with it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, insert, select, update

from bridge.db.models import CONSOLE_SESSIONS as _S

# 256 bits: the id is the session's only secret once the cookie's signature holds.
SESSION_ID_BYTES = 32


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(engine: Engine, now: datetime, lifetime: timedelta) -> str:
    """A new session ending `lifetime` from now; returns its id (for the cookie only)."""
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    with engine.begin() as conn:
        # Ended sessions are of no use: dropping them here keeps the table to the live ones.
        conn.execute(delete(_S).where(_S.c.expires_at <= now))
        conn.execute(
            insert(_S).values(id_hash=_key(session_id), created_at=now, expires_at=now + lifetime)
        )
    return session_id


def session_active(conn: Connection, session_id: str, now: datetime) -> bool:
    row = conn.execute(
        select(_S.c.expires_at, _S.c.revoked_at).where(_S.c.id_hash == _key(session_id))
    ).one_or_none()
    return row is not None and row.revoked_at is None and now < row.expires_at


def revoke_session(engine: Engine, session_id: str, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(_S)
            .where(_S.c.id_hash == _key(session_id), _S.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
