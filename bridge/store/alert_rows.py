"""The alerts table's side of an ingest: lock the known rows, insert the new, update the changed.

Known alerts are read and locked (`FOR NO KEY UPDATE` on PostgreSQL; SQLite's `BEGIN
IMMEDIATE` already serialises writers) in fingerprint order, so two payloads never lock in
opposite orders. `NO KEY`: an ingest never changes an alert's id or fingerprint, and a
`FOR UPDATE` would also keep out every insert of a row referencing the alert (a foreign
key check takes `KEY SHARE`), such as another post queueing a storm's outbox rows on its
anchor alert while it holds the storm this post waits for.

A new alert starts as an *unseen* row in memory and is inserted once, in its final state;
a known one is updated only in the columns that changed.

Two replicas may both see an alert as new. The insert skips a fingerprint that exists by
then and `InsertRace` asks the caller to run the transaction again, when the row is there
to lock (PostgreSQL only: SQLite has one writer).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Insert, Update, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bridge.alerts import Alert
from bridge.db.models import ALERTS
from bridge.dedup import PreviousState

# Widths of the columns that copy labels for indexing; the full labels are kept in JSON.
NAME_CHARS = 255
SEVERITY_CHARS = 32
# The state of an alert no payload has filled yet (never stored as such).
_UNSEEN = ""
_UNSEEN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# Columns an ingest may change.
_MUTABLE = (
    "alertname",
    "severity",
    "node",
    "status",
    "starts_at",
    "ends_at",
    "labels",
    "annotations",
    "generator_url",
    "sender",
    "channels",
    "notified",
    "last_seen_at",
    "last_change_at",
    "received_count",
    "duplicate_count",
    "slack_channel",
    "slack_ts",
    "suppressed_by",
    "reminded_at",
    "flapping_since",
    "delivered_status",
    "storm_id",
)
_LOCK = (
    select(ALERTS)
    .where(ALERTS.c.fingerprint.in_(bindparam("fps", expanding=True)))
    .order_by(ALERTS.c.fingerprint)
)
# key_share=True: FOR NO KEY UPDATE (see above), what the UPDATE takes anyway.
_LOCK_PG = _LOCK.with_for_update(key_share=True)
_LOCK_IDS_PG = (
    select(ALERTS.c.id)
    .where(ALERTS.c.fingerprint.in_(bindparam("fps", expanding=True)))
    .order_by(ALERTS.c.fingerprint)
    .with_for_update(key_share=True)
)


class InsertRace(Exception):
    """Another transaction created one of these alerts first: run this one again."""


def lock_rows(conn: Connection, fingerprints: list[str]) -> dict[str, dict[str, Any]]:
    query = _LOCK_PG if conn.dialect.name == "postgresql" else _LOCK
    return {
        row.fingerprint: dict(row._mapping) for row in conn.execute(query, {"fps": fingerprints})
    }


def lock_in_order(conn: Connection, fingerprints: list[str]) -> None:
    """PostgreSQL: lock the known rows of every alert a transaction will touch, in one
    statement, in fingerprint order, before any of its statements locks some of them.

    A transaction whose statements each lock in fingerprint order still locks in two
    passes when it runs two of them (a group commit's repeats, then its other payloads):
    two such transactions can each hold what the other's second pass needs. Locks held
    already are taken again without waiting. SQLite's `BEGIN IMMEDIATE` serialises
    writers instead.
    """
    if conn.dialect.name == "postgresql" and fingerprints:
        conn.execute(_LOCK_IDS_PG, {"fps": sorted(set(fingerprints))}).all()


def unseen_row(alert: Alert, now: datetime) -> dict[str, Any]:
    # Every column present (None unless set here), so a column added to the
    # table needs no change here unless it must start with another value.
    row: dict[str, Any] = dict.fromkeys(ALERTS.c.keys())
    row.update(
        fingerprint=alert.fingerprint,
        alertname=alert.name[:NAME_CHARS],
        severity=alert.severity[:SEVERITY_CHARS],
        node=alert.node[:NAME_CHARS],
        status=_UNSEEN,
        starts_at=_UNSEEN_TIME,
        labels=alert.labels,
        annotations=alert.annotations,
        generator_url=alert.generator_url,
        channels=[],
        notified=False,
        first_seen_at=now,
        last_seen_at=now,
        last_change_at=now,
        received_count=0,
        duplicate_count=0,
    )
    return row


def previous_state(row: Mapping[str, Any]) -> PreviousState | None:
    """What dedup knows of the alert: nothing for an unseen row."""
    if row["status"] == _UNSEEN:
        return None
    return PreviousState(row["status"], row["starts_at"], bool(row["notified"]))


def write_rows(
    conn: Connection, rows: Mapping[str, Mapping[str, Any]], stored: Mapping[str, Mapping[str, Any]]
) -> dict[str, int]:
    """Insert the new rows, update what changed in the others; every row's id by fingerprint."""
    ids = {fingerprint: row["id"] for fingerprint, row in stored.items()}
    # In fingerprint order, like the locks: two transactions inserting the same new
    # alerts wait for each other in one direction only.
    created = [rows[fp] for fp in sorted(rows) if fp not in stored]
    if created:
        inserts = [{k: v for k, v in row.items() if k != "id"} for row in created]
        inserted = {
            r.fingerprint: r.id for r in conn.execute(_insert_new(conn.dialect.name), inserts)
        }
        if len(inserted) < len(created):
            raise InsertRace("an alert of this payload was created concurrently")
        ids.update(inserted)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for fingerprint, before in stored.items():
        after = rows[fingerprint]
        changed = tuple(name for name in _MUTABLE if after[name] != before[name])
        if changed:
            values = {f"b_{name}": after[name] for name in changed}
            by_columns.setdefault(changed, []).append({"b_id": before["id"], **values})
    for columns, updates in by_columns.items():
        conn.execute(_update_columns(columns), updates)
    return ids


@lru_cache(maxsize=4)
def _insert_new(dialect: str) -> Insert:
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(ALERTS)
    elif dialect == "sqlite":
        stmt = sqlite.insert(ALERTS)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database {dialect}")
    stmt = stmt.on_conflict_do_nothing(index_elements=["fingerprint"])
    result: Insert = stmt.returning(ALERTS.c.id, ALERTS.c.fingerprint)
    return result


@lru_cache(maxsize=64)
def _update_columns(columns: tuple[str, ...]) -> Update:
    """One prepared UPDATE per set of changed columns (SQLAlchemy caches its compiled form)."""
    return (
        update(ALERTS)
        .where(ALERTS.c.id == bindparam("b_id"))
        .values({ALERTS.c[name]: bindparam(f"b_{name}") for name in columns})
    )
