"""The database side of reconciliation: the round lease, what rounds saw, the bridge's alerts.

Every write is a compare-and-set or an upsert, so replicas never need to trust each
other's clocks or memory: the lease row decides who runs a round, the alerts' row locks
(taken by the ingest a resolve goes through) decide whether a resolve is still due.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bridge import watchdog
from bridge.db.models import (
    AlertRow,
    AmObservationRow,
    DeliveryRow,
    OccurrenceRow,
    ReconcileStatusRow,
)
from bridge.reconcile.model import ABSENT, GRACE, OK, BridgeAlert, Observation
from bridge.routing import HEARTBEAT, Routing

STATUS_ID = 1
# Silences of windows that ended this long ago may still explain an alert last seen muted.
WINDOW_LOOKBACK = timedelta(days=1)


def _insert(conn: Connection, model: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def take_lease(
    conn: Connection, worker: str, now: datetime, lease: timedelta, not_since: datetime | None
) -> bool:
    """True for the one replica that may run a round now.

    `not_since`: refuse when a round finished after it (replicas share one cadence)."""
    conn.execute(
        _insert(conn, ReconcileStatusRow)
        .values(id=STATUS_ID, last_detail="", failures=0)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    row = ReconcileStatusRow
    conditions = [
        row.id == STATUS_ID,
        or_(row.running_until.is_(None), row.running_until < now),
    ]
    if not_since is not None:
        conditions.append(or_(row.last_round_at.is_(None), row.last_round_at <= not_since))
    taken = conn.execute(
        update(row).where(*conditions).values(running_by=worker, running_until=now + lease)
    )
    return taken.rowcount == 1


def finish_round(
    conn: Connection, worker: str, started: datetime, now: datetime, outcome: str, detail: str
) -> None:
    """Record the outcome and give the lease back (only if still ours). The round counts from
    its start, so a slow Alertmanager does not push the shared cadence back."""
    row = ReconcileStatusRow
    values: dict[str, Any] = {
        "running_by": None,
        "running_until": None,
        "last_round_at": started,
        "last_outcome": outcome,
        "last_detail": detail[:2000],
        # Waiting out a restarted Alertmanager's grace is no failure, nor a success.
        "failures": 0 if outcome == OK else row.failures if outcome == GRACE else row.failures + 1,
    }
    if outcome == OK:
        values["last_success_at"] = now
    conn.execute(update(row).where(row.id == STATUS_ID, row.running_by == worker).values(**values))


def status(conn: Connection) -> dict[str, Any] | None:
    """The last round as every replica sees it (the console's health line)."""
    found = conn.execute(
        select(ReconcileStatusRow.__table__).where(ReconcileStatusRow.id == STATUS_ID)
    ).first()
    return dict(found._mapping) if found is not None else None


def firing_alerts(conn: Connection, routing: Routing) -> list[BridgeAlert]:
    """The bridge's firing alerts that came from Alertmanager.

    Not the heartbeat's (the dead-man's switch owns those), and not the bridge's own
    AlertingPipelineDown: Alertmanager never lists what it never sent, so its absence there
    proves nothing, and resolving it would re-raise (and re-page) it at the next check.
    """
    rows = conn.execute(
        select(
            AlertRow.fingerprint,
            AlertRow.starts_at,
            AlertRow.last_seen_at,
            AlertRow.labels,
            AlertRow.annotations,
            AlertRow.generator_url,
            AlertRow.sender,
        ).where(AlertRow.status == "firing")
    )
    return [
        BridgeAlert(
            r.fingerprint,
            r.starts_at,
            r.last_seen_at,
            r.labels or {},
            r.annotations or {},
            r.generator_url or "",
            r.sender,
        )
        for r in rows
        if r.fingerprint != watchdog.FINGERPRINT
        and HEARTBEAT not in routing.channels_for(r.labels or {})
    ]


def episodes(conn: Connection, fingerprints: Iterable[str]) -> dict[str, datetime]:
    """The episode start the bridge stores for each of these fingerprints it knows."""
    wanted = sorted(set(fingerprints))
    found: dict[str, datetime] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for r in conn.execute(
            select(AlertRow.fingerprint, AlertRow.starts_at).where(
                AlertRow.fingerprint.in_(chunk), AlertRow.status != ""
            )
        ):
            found[r.fingerprint] = r.starts_at
    return found


def window_silences(conn: Connection, now: datetime) -> dict[str, str]:
    """Alertmanager silence id -> the bridge window that created it."""
    rows = conn.execute(
        select(OccurrenceRow.window_id, OccurrenceRow.am_silences).where(
            OccurrenceRow.ends_at >= now - WINDOW_LOOKBACK
        )
    )
    return {
        silence: r.window_id
        for r in rows
        for silence in (r.am_silences or {}).values()
        if isinstance(silence, str)
    }


def observations(conn: Connection) -> dict[str, Observation]:
    return {
        r.fingerprint: Observation(
            r.state, r.muted, r.muted_by, r.absent_rounds, r.unknown_rounds, r.seen_at
        )
        for r in conn.execute(select(AmObservationRow.__table__))
    }


def muted_states(conn: Connection, fingerprints: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per fingerprint: its Alertmanager state last seen and any reconcile resolve reason."""
    wanted = sorted(set(fingerprints))
    if not wanted:
        return {}
    rows = conn.execute(
        select(AmObservationRow.__table__).where(AmObservationRow.fingerprint.in_(wanted))
    )
    return {r.fingerprint: dict(r._mapping) for r in rows}


def save_observations(
    conn: Connection,
    seen: Mapping[str, Observation],
    previous: Mapping[str, Observation],
    now: datetime,
) -> None:
    """Store the observations that changed (one statement); forget fingerprints this round
    no longer concerns (keeping the resolve reason of an alert the bridge still lists)."""
    table = AmObservationRow
    changed = [
        {
            "fingerprint": fingerprint,
            "state": obs.state,
            "muted": obs.muted,
            "muted_by": obs.muted_by,
            "absent_rounds": obs.absent_rounds,
            "unknown_rounds": obs.unknown_rounds,
            "seen_at": obs.seen_at,
            "updated_at": now,
        }
        for fingerprint, obs in sorted(seen.items())
        if previous.get(fingerprint) != obs
    ]
    if changed:
        stmt = _insert(conn, table)
        columns = [k for k in changed[0] if k != "fingerprint"]
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["fingerprint"], set_={c: stmt.excluded[c] for c in columns}
            ),
            changed,
        )
    gone = sorted(set(previous) - set(seen))
    if not gone:
        return
    conn.execute(
        delete(table).where(
            table.fingerprint.in_(gone),
            or_(
                table.resolve_reason.is_(None),
                ~select(AlertRow.id).where(AlertRow.fingerprint == table.fingerprint).exists(),
            ),
        )
    )
    conn.execute(
        update(table)
        .where(table.fingerprint.in_(gone))
        .values(state=ABSENT, absent_rounds=0, unknown_rounds=0, updated_at=now)
    )


def stamp_resolves(
    conn: Connection, reasons: Mapping[str, tuple[datetime, str]], now: datetime
) -> None:
    """Say why, where people look: the alert's observation (for /alerts and the console)
    and the resolve notifications this transaction just queued (for Slack)."""
    for fingerprint, (starts_at, reason) in sorted(reasons.items()):
        values = {"resolve_reason": reason, "resolved_starts_at": starts_at, "updated_at": now}
        conn.execute(
            _insert(conn, AmObservationRow)
            .values(
                fingerprint=fingerprint, state=ABSENT, absent_rounds=0, unknown_rounds=0, **values
            )
            .on_conflict_do_update(index_elements=["fingerprint"], set_=values)
        )
    if not reasons:
        return
    queued = conn.execute(
        select(DeliveryRow.id, DeliveryRow.snapshot, AlertRow.fingerprint)
        .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
        .where(
            and_(
                AlertRow.fingerprint.in_(sorted(reasons)),
                DeliveryRow.action == "resolve",
                DeliveryRow.status == "pending",
                DeliveryRow.created_at == now,
            )
        )
    ).all()
    for row in queued:
        snapshot = {**(row.snapshot or {}), "resolve_reason": reasons[row.fingerprint][1]}
        conn.execute(update(DeliveryRow).where(DeliveryRow.id == row.id).values(snapshot=snapshot))
