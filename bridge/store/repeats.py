"""Exact repeats: one UPDATE that only counts them.

Alertmanager re-sends every alert of a group at each `repeat_interval` and both peers of an
HA pair send everything twice, so most webhook alerts are *exact repeats*: the same
fingerprint, `startsAt` and status as stored. dedup decides IGNORE for each
(`repeat_firing`, `repeat_resolved`) and only three columns change: `received_count`,
`duplicate_count` and `last_seen_at`. For a payload that is all exact repeats, one UPDATE
whose WHERE is that very condition does the whole ingest, without reading the rows
(their labels and annotations are JSON), the maintenance windows or the storm state.

The database decides, never the process: the UPDATE matches a row only if its stored
state is the payload's at that moment (under the row lock), and the caller rolls the
transaction back and runs the full ingest unless every alert matched. `RepeatHints`
only says when trying is worth a statement: a payload with an alert this process has not
just stored in that state goes to the full ingest directly, so new alerts pay nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Executable, and_, bindparam, select, tuple_, update

from bridge.alerts import Alert
from bridge.db.models import ALERTS
from bridge.store.ingest import IngestResult

# How many alerts the hints remember (about 100 bytes each); past that they start over,
# which costs one full ingest per alert to learn them again.
MAX_HINTS = 100_000
# Decisions after which the stored row is *not* the payload's alert (an older episode).
_NOT_STORED = frozenset({"stale_episode", "stale_firing_after_resolve"})
_Key = tuple[datetime, str]


class NotAllRepeats(Exception):
    """Raised inside the transaction to roll the counting back."""

    def __init__(self, payloads: Sequence[int] = (0,)) -> None:
        super().__init__(f"payloads {list(payloads)} are not all exact repeats")
        self.payloads = list(payloads)


class RepeatHints:
    """fingerprint → (startsAt, status) as this process last stored it. A hint only."""

    def __init__(self, limit: int = MAX_HINTS) -> None:
        self._limit = limit
        self._known: dict[str, _Key] = {}
        self._lock = threading.Lock()

    def all_known(self, alerts: Sequence[Alert]) -> bool:
        known = self._known
        return (
            bool(alerts)
            and all(known.get(a.fingerprint) == (a.starts_at, a.status) for a in alerts)
            and len({a.fingerprint for a in alerts}) == len(alerts)
        )

    def learn(self, alerts: Sequence[Alert], result: IngestResult) -> None:
        """After a committed full ingest: remember the alerts now stored as sent."""
        reasons = dict(result.decisions)
        with self._lock:
            if len(self._known) + len(alerts) > self._limit:
                self._known.clear()
            for alert in alerts:
                if reasons.get(alert.fingerprint) in _NOT_STORED:
                    self._known.pop(alert.fingerprint, None)
                else:
                    self._known[alert.fingerprint] = (alert.starts_at, alert.status)

    def forget(self, alerts: Sequence[Alert]) -> None:
        with self._lock:
            for alert in alerts:
                self._known.pop(alert.fingerprint, None)


def _count_statement(dialect: str) -> Executable:
    # The fingerprints alone pick the rows through the unique index; the full key is a
    # filter on those few rows. The row-value IN by itself is answered with a scan of
    # the whole table on SQLite (issue 23: every repeat request read every alert).
    match = and_(
        ALERTS.c.fingerprint.in_(bindparam("fingerprints", expanding=True)),
        tuple_(ALERTS.c.fingerprint, ALERTS.c.starts_at, ALERTS.c.status).in_(
            bindparam("keys", expanding=True)
        ),
    )
    target = ALERTS.c.id.in_(
        # PostgreSQL: lock in fingerprint order like every other ingest, so concurrent
        # posts never wait on each other in a circle, and FOR NO KEY UPDATE like them
        # (store/alert_rows.py). SQLite has one writer.
        select(ALERTS.c.id)
        .where(match)
        .order_by(ALERTS.c.fingerprint)
        .with_for_update(key_share=True)
        if dialect == "postgresql"
        else select(ALERTS.c.id).where(match)
    )
    return (
        update(ALERTS)
        .where(target)
        .values(
            received_count=ALERTS.c.received_count + 1,
            duplicate_count=ALERTS.c.duplicate_count + 1,
            last_seen_at=bindparam("now"),
        )
        .returning(ALERTS.c.fingerprint)
    )


_STATEMENTS = {name: _count_statement(name) for name in ("postgresql", "sqlite")}


def count_repeats_many(
    conn: Connection, payloads: Sequence[Sequence[Alert]], now: datetime
) -> list[IngestResult]:
    """Count every alert of `payloads` as a duplicate, in one statement, or raise
    NotAllRepeats (roll back) naming the payloads (indexes) with an alert that is not an
    exact repeat of its stored state. No fingerprint may be in two of them, nor twice in
    one (`RepeatHints.all_known`)."""
    keys = [(a.fingerprint, a.starts_at, a.status) for alerts in payloads for a in alerts]
    statement = _STATEMENTS[conn.dialect.name]
    params = {"fingerprints": [k[0] for k in keys], "keys": keys, "now": now}
    matched = {row[0] for row in conn.execute(statement, params)}
    short = [
        i for i, alerts in enumerate(payloads) if any(a.fingerprint not in matched for a in alerts)
    ]
    if short:
        raise NotAllRepeats(short)
    return [_counted(alerts) for alerts in payloads]


def _counted(alerts: Sequence[Alert]) -> IngestResult:
    ordered = sorted(alerts, key=lambda a: a.fingerprint)
    return IngestResult(
        received=len(alerts),
        new=0,
        duplicates=len(alerts),
        resolved=0,
        notifications=0,
        decisions=tuple((a.fingerprint, f"repeat_{a.status}") for a in ordered),
    )
