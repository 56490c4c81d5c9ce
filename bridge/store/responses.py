"""What people did about an alert's episode (`alert_responses`), and acts recorded once.

Every write is a single statement whose outcome the database decides: an insert that
conflicts on a unique key does nothing (`record_once`), and updates carry their own
condition (first acknowledgement wins; PagerDuty's state only moves forward in time).
Nothing reads first and writes after.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bridge.db.models import ALERTS, INTERACTIONS, RESPONSES

_R = RESPONSES


def _insert(conn: Connection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def record_once(
    conn: Connection,
    key: str,
    *,
    source: str,
    action: str,
    alert_id: int | None,
    actor: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> bool:
    """True for the one caller that records `key`; every other (retry, replica) gets False.

    On PostgreSQL a concurrent insert of the same key waits for the first transaction
    and then does nothing, so exactly one of them goes on to act.
    """
    stmt = (
        _insert(conn, INTERACTIONS)
        .values(
            key=key[:255],
            source=source,
            action=action,
            alert_id=alert_id,
            actor=actor[:255],
            at=now,
            detail=detail or {},
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(INTERACTIONS.c.id)
    )
    return conn.execute(stmt).first() is not None


def ensure_response(conn: Connection, alert_id: int, starts_at: datetime) -> None:
    """The episode's response row exists (created once, whoever gets there first)."""
    conn.execute(
        _insert(conn, _R)
        .values(alert_id=alert_id, starts_at=starts_at)
        .on_conflict_do_nothing(index_elements=["alert_id", "starts_at"])
    )


def _episode(alert_id: int, starts_at: datetime) -> Any:
    return (_R.c.alert_id == alert_id) & (_R.c.starts_at == starts_at)


def acknowledge(
    conn: Connection, alert_id: int, starts_at: datetime, by: str, at: datetime, source: str
) -> bool:
    """Record the first acknowledgement of the episode; False when someone was first."""
    ensure_response(conn, alert_id, starts_at)
    result = conn.execute(
        update(_R)
        .where(_episode(alert_id, starts_at), _R.c.acked_at.is_(None))
        .values(acked_by=by[:255], acked_at=at, ack_source=source)
    )
    return bool(result.rowcount)


def silence(
    conn: Connection,
    alert_id: int,
    starts_at: datetime,
    by: str,
    until: datetime,
    window_id: str,
) -> None:
    ensure_response(conn, alert_id, starts_at)
    conn.execute(
        update(_R)
        .where(_episode(alert_id, starts_at))
        .values(silenced_by=by[:255], silenced_until=until, window_id=window_id)
    )


def pagerduty_state(
    conn: Connection,
    alert_id: int,
    starts_at: datetime,
    *,
    incident_id: str,
    incident_url: str,
    status: str,
    responder: str,
    occurred_at: datetime,
) -> bool:
    """Apply PagerDuty's incident state if it is newer than the one shown (False: stale).

    Events arrive unordered; the condition on `pd_status_at` keeps an old event from
    moving the message backwards, and on the incident id keeps an earlier episode's
    incident (same dedup_key) from touching this one.
    """
    ensure_response(conn, alert_id, starts_at)
    result = conn.execute(
        update(_R)
        .where(
            _episode(alert_id, starts_at),
            or_(_R.c.pd_status_at.is_(None), _R.c.pd_status_at < occurred_at),
            or_(_R.c.pd_incident_id.is_(None), _R.c.pd_incident_id == incident_id),
        )
        .values(
            pd_incident_id=incident_id,
            pd_incident_url=incident_url or None,
            pd_status=status,
            pd_status_at=occurred_at,
            pd_responder=responder[:255] or None,
        )
    )
    return bool(result.rowcount)


def episode_of_incident(conn: Connection, incident_id: str) -> tuple[int, datetime] | None:
    """The (alert, episode) a PagerDuty incident was matched to, for its notes."""
    row = conn.execute(
        select(_R.c.alert_id, _R.c.starts_at)
        .where(_R.c.pd_incident_id == incident_id)
        .order_by(_R.c.id.desc())
        .limit(1)
    ).first()
    return (row.alert_id, row.starts_at) if row is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def as_dict(row: Any) -> dict[str, Any]:
    """A response as messages and `/alerts` show it (JSON-ready)."""
    time_to_ack = (
        (row.acked_at - row.starts_at).total_seconds() if row.acked_at is not None else None
    )
    return {
        "acked_by": row.acked_by,
        "acked_at": _iso(row.acked_at),
        "ack_source": row.ack_source,
        "seconds_to_acknowledge": time_to_ack,
        "silenced_by": row.silenced_by,
        "silenced_until": _iso(row.silenced_until),
        "window_id": row.window_id,
        "pd_status": row.pd_status,
        "pd_status_at": _iso(row.pd_status_at),
        "pd_responder": row.pd_responder,
        "pd_incident_url": row.pd_incident_url,
    }


def responses_for(conn: Connection, episodes: Iterable[tuple[int, datetime]]) -> dict[int, Any]:
    """Alert id → its current episode's response (as `as_dict`), for those that have one."""
    wanted = dict(episodes)
    if not wanted:
        return {}
    rows = conn.execute(select(_R).where(_R.c.alert_id.in_(list(wanted))))
    return {r.alert_id: as_dict(r) for r in rows if wanted.get(r.alert_id) == r.starts_at}


# Firing alerts listed one by one in /metrics; bounded so a storm cannot blow up a scrape.
MAX_ACKED_SERIES = 200


def firing_acknowledgements(conn: Connection) -> tuple[int, list[Any]]:
    """Firing alerts not yet acknowledged (a count), and the acknowledged ones (rows)."""
    firing = ALERTS.c.status == "firing"
    episode = (_R.c.alert_id == ALERTS.c.id) & (_R.c.starts_at == ALERTS.c.starts_at)
    acked = list(
        conn.execute(
            select(
                ALERTS.c.alertname,
                ALERTS.c.node,
                ALERTS.c.fingerprint,
                _R.c.ack_source,
                _R.c.acked_at,
                _R.c.starts_at,
            )
            .select_from(ALERTS.join(_R, episode))
            .where(firing, _R.c.acked_at.is_not(None))
            .order_by(_R.c.acked_at.desc())
            .limit(MAX_ACKED_SERIES)
        )
    )
    unacked = conn.execute(
        select(func.count())
        .select_from(ALERTS.outerjoin(_R, episode))
        .where(firing, _R.c.acked_at.is_(None))
    ).scalar_one()
    return int(unacked), acked
