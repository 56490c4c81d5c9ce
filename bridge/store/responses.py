"""What people did about an alert's episode (`alert_responses`) or a storm incident
(`storm_responses`), and acts recorded once.

Every write is a single statement whose outcome the database decides: an insert that
conflicts on a unique key does nothing (`record_once`), and updates carry their own
condition (first acknowledgement wins; PagerDuty's state only moves forward in time).
Nothing reads first and writes after.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from bridge.db.models import ALERTS, INTERACTIONS, RESPONSES, STORM_RESPONSES, STORMS
from bridge.routing import PAGERDUTY
from bridge.storm_view import StormView

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


@dataclass(frozen=True)
class Ref:
    """What a response is about: one episode of an alert, or one storm incident."""

    table: Table
    key: tuple[tuple[str, Any], ...]  # the unique key's columns and values

    @property
    def where(self) -> Any:
        return and_(*(self.table.c[name] == value for name, value in self.key))


def episode_ref(alert_id: int, starts_at: datetime) -> Ref:
    return Ref(_R, (("alert_id", alert_id), ("starts_at", starts_at)))


def storm_ref(storm_id: int) -> Ref:
    return Ref(STORM_RESPONSES, (("storm_id", storm_id),))


def ensure_response(conn: Connection, ref: Ref) -> None:
    """The response row exists (created once, whoever gets there first)."""
    conn.execute(
        _insert(conn, ref.table)
        .values(dict(ref.key))
        .on_conflict_do_nothing(index_elements=[name for name, _ in ref.key])
    )


def acknowledge(conn: Connection, ref: Ref, by: str, at: datetime, source: str) -> bool:
    """Record the first acknowledgement; False when someone was first."""
    ensure_response(conn, ref)
    t = ref.table.c
    result = conn.execute(
        update(ref.table)
        .where(ref.where, t.acked_at.is_(None))
        .values(acked_by=by[:255], acked_at=at, ack_source=source)
    )
    return bool(result.rowcount)


def acknowledge_folded(conn: Connection, storm_id: int, by: str, at: datetime, source: str) -> None:
    """A storm's acknowledgement counts for the current episode of each alert folded
    into it (who, when, time to acknowledge), where nobody acknowledged it before."""
    _acknowledge_current_episodes(conn, ALERTS.c.storm_id == storm_id, None, by, at, source)


def acknowledge_joiners(
    conn: Connection, alert_ids: Sequence[int], by: str, source: str | None, now: datetime
) -> None:
    """Alerts folding into a storm someone acknowledged already (`by`, from `source`) are
    acknowledged with it, from the moment they joined: their page is that acknowledged
    incident, so nobody is left to acknowledge them, and they never count as
    acknowledged before they fired."""
    if alert_ids:
        ids = list(alert_ids)
        _acknowledge_current_episodes(conn, ALERTS.c.id.in_(ids), ids, by, now, source)


def _acknowledge_current_episodes(
    conn: Connection,
    which: ColumnElement[bool],
    alert_ids: list[int] | None,
    by: str,
    at: datetime,
    source: str | None,
) -> None:
    """The current episode of each alert `which` selects is acknowledged, where nobody
    acknowledged it first. `alert_ids`, when known, narrows the update by its index (the
    folding path runs it for every firing that joins an acknowledged storm)."""
    episodes = select(ALERTS.c.id, ALERTS.c.starts_at).where(which)
    conn.execute(
        _insert(conn, _R)
        .from_select(["alert_id", "starts_at"], episodes)
        .on_conflict_do_nothing(index_elements=["alert_id", "starts_at"])
    )
    current_episode = (
        select(ALERTS.c.id)
        .where(which, ALERTS.c.id == _R.c.alert_id, ALERTS.c.starts_at == _R.c.starts_at)
        .exists()
    )
    narrowed = _R.c.alert_id.in_(alert_ids) if alert_ids is not None else true()
    conn.execute(
        update(_R)
        .where(narrowed, current_episode, _R.c.acked_at.is_(None))
        .values(acked_by=by[:255], acked_at=at, ack_source=source)
    )


def silence(conn: Connection, ref: Ref, by: str, until: datetime, window_id: str) -> None:
    ensure_response(conn, ref)
    conn.execute(
        update(ref.table)
        .where(ref.where)
        .values(silenced_by=by[:255], silenced_until=until, window_id=window_id)
    )


def pagerduty_state(
    conn: Connection,
    ref: Ref,
    *,
    incident_id: str,
    incident_url: str,
    status: str,
    responder: str,
    occurred_at: datetime,
) -> bool:
    """Apply PagerDuty's incident state if it is newer than the one shown (False: stale).

    Events arrive unordered; the condition on `pd_status_at` keeps an old event from
    moving the message backwards, and on the incident id keeps another incident (an
    earlier episode's, same dedup_key) from touching this one once one is tied.
    """
    ensure_response(conn, ref)
    t = ref.table.c
    result = conn.execute(
        update(ref.table)
        .where(
            ref.where,
            or_(t.pd_status_at.is_(None), t.pd_status_at < occurred_at),
            or_(t.pd_incident_id.is_(None), t.pd_incident_id == incident_id),
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


def tie_incident(conn: Connection, ref: Ref, incident_id: str) -> bool:
    """Tie a PagerDuty incident to what it is about, unless another one is (False)."""
    ensure_response(conn, ref)
    t = ref.table.c
    result = conn.execute(
        update(ref.table)
        .where(ref.where, or_(t.pd_incident_id.is_(None), t.pd_incident_id == incident_id))
        .values(pd_incident_id=incident_id)
    )
    return bool(result.rowcount)


def response_of(conn: Connection, ref: Ref) -> Any:
    """The response row (None: nothing recorded yet)."""
    return conn.execute(select(ref.table).where(ref.where)).first()


def episode_of_incident(conn: Connection, incident_id: str) -> tuple[int, datetime] | None:
    """The (alert, episode) a PagerDuty incident is tied to."""
    row = conn.execute(
        select(_R.c.alert_id, _R.c.starts_at)
        .where(_R.c.pd_incident_id == incident_id)
        .order_by(_R.c.id.desc())
        .limit(1)
    ).first()
    return (row.alert_id, row.starts_at) if row is not None else None


def storm_of_incident(conn: Connection, incident_id: str) -> int | None:
    """The storm a PagerDuty incident is tied to."""
    return conn.execute(
        select(STORM_RESPONSES.c.storm_id)
        .where(STORM_RESPONSES.c.pd_incident_id == incident_id)
        .limit(1)
    ).scalar()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def as_dict(row: Any, started_at: datetime | None = None) -> dict[str, Any]:
    """A response as messages and `/alerts` show it (JSON-ready); `started_at`: when what
    it is about started (an episode's own `starts_at` by default)."""
    start = started_at if started_at is not None else row.starts_at
    time_to_ack = (row.acked_at - start).total_seconds() if row.acked_at is not None else None
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


def with_storm_response(conn: Connection, view: StormView | None) -> StormView | None:
    """The storm as its messages show it: with what people did, and whether it paged."""
    if view is None:
        return None
    channels = conn.execute(select(STORMS.c.channels).where(STORMS.c.id == view.id)).scalar()
    row = conn.execute(select(STORM_RESPONSES).where(STORM_RESPONSES.c.storm_id == view.id)).first()
    response = as_dict(row, view.started_at) if row is not None else None
    return replace(view, response=response, paged=PAGERDUTY in (channels or []))


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
