"""The one read model of alerts and deliveries: every read the API's `GET /alerts`
(shaped as JSON by store/views.py) and the console's pages (bridge/console) make.

Every function takes a connection from `Store.read()` (`read_connection`), so a reader
never waits for the write lock the webhook and the worker take. What is bounded, and what
is not: lists are (`MAX_ALERTS_LISTED` alerts, `MAX_DELIVERIES_LISTED` deliveries,
`MAX_TRANSITIONS_LISTED` transitions, an alert page's `MAX_ATTEMPTS_PER_DELIVERY` newest
attempts shown); the overview reads a few columns of every firing alert and every node
(to count them) and the labels and annotations only of those it lists; the deliveries of
the alerts read are read whole, with every attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, String, bindparam, func, select, text

from bridge.db.models import ALERTS, ATTEMPTS, DELIVERIES, TRANSITIONS, UTCDateTime
from bridge.enrich.render import key_fact

# Bounds of one answer or page.
MAX_ALERTS_LISTED = 500
MAX_DELIVERIES_LISTED = 200
MAX_TRANSITIONS_LISTED = 100
MAX_ATTEMPTS_PER_DELIVERY = 50
# Alertmanager's Watchdog fires forever by design: it is neither trouble nor a node's
# state, so neither pages nor summaries count it.
ALWAYS_FIRING = ("Watchdog",)
# An alert row some payload filled (the ingest upsert inserts rows with status '' first).
KNOWN = ALERTS.c.status != ""


@dataclass(frozen=True)
class FiringAlert:
    id: int
    fingerprint: str
    alertname: str
    severity: str
    node: str
    annotations: dict[str, str]
    labels: dict[str, str]
    starts_at: datetime
    suppressed: bool
    flapping: bool


@dataclass(frozen=True)
class NodeSeen:
    """A node the bridge has had alerts for, and when any of them last changed."""

    node: str
    last_change_at: datetime
    firing: int


@dataclass(frozen=True)
class TriggerOutcome:
    """The newest trigger of an alert on one channel: did the page go out?"""

    alert_id: int
    channel: str
    status: str
    context_key: str


def firing_alerts(conn: Connection) -> list[FiringAlert]:
    """Every firing alert, without labels and annotations (`with_texts` adds them for the
    few a page lists: decoding a thousand JSON documents would be most of the page's time)."""
    a = ALERTS.c
    rows = conn.execute(
        select(
            a.id,
            a.fingerprint,
            a.alertname,
            a.severity,
            a.node,
            a.starts_at,
            a.suppressed_by,
            a.flapping_since,
        ).where(a.status == "firing", a.alertname.not_in(ALWAYS_FIRING))
    )
    return [
        FiringAlert(
            id=r.id,
            fingerprint=r.fingerprint,
            alertname=r.alertname,
            severity=r.severity,
            node=r.node,
            labels={},
            annotations={},
            starts_at=r.starts_at,
            suppressed=r.suppressed_by is not None,
            flapping=r.flapping_since is not None,
        )
        for r in rows
    ]


def with_texts(conn: Connection, alerts: list[FiringAlert]) -> list[FiringAlert]:
    """The same alerts with their labels and annotations read."""
    if not alerts:
        return []
    a = ALERTS.c
    texts = {
        r.id: (dict(r.labels or {}), dict(r.annotations or {}))
        for r in conn.execute(
            select(a.id, a.labels, a.annotations).where(a.id.in_([x.id for x in alerts]))
        )
    }
    return [
        replace(x, labels=texts[x.id][0], annotations=texts[x.id][1]) if x.id in texts else x
        for x in alerts
    ]


# Every node with its last change, without reading every alert ever kept (issue 23): a
# walk over the distinct nodes of the (node, last_change_at) index, one probe each for
# the next node and one for its newest change. A GROUP BY read the whole table.
_NODES_SEEN = (
    text(
        """
WITH RECURSIVE nodes(node) AS (
    SELECT CAST(min(node) AS TEXT) FROM alerts
    UNION ALL
    SELECT (SELECT CAST(min(a.node) AS TEXT) FROM alerts a WHERE a.node > nodes.node)
    FROM nodes WHERE nodes.node IS NOT NULL
)
SELECT nodes.node AS node, (
    SELECT a.last_change_at FROM alerts a
    WHERE a.node = nodes.node AND a.status != '' AND a.alertname NOT IN :always
    ORDER BY a.last_change_at DESC LIMIT 1
) AS last
FROM nodes WHERE nodes.node IS NOT NULL
"""
    )
    .bindparams(bindparam("always", value=list(ALWAYS_FIRING), expanding=True))
    .columns(node=String(), last=UTCDateTime())
)


def nodes_seen(conn: Connection) -> list[NodeSeen]:
    a = ALERTS.c
    firing: dict[str, int] = dict(
        conn.execute(
            select(a.node, func.count())
            .where(a.status == "firing", a.alertname.not_in(ALWAYS_FIRING))
            .group_by(a.node)
        ).all()
    )
    return sorted(
        (
            NodeSeen(r.node, r.last, int(firing.get(r.node, 0)))
            for r in conn.execute(_NODES_SEEN)
            if r.last is not None
        ),
        key=lambda seen: seen.node,
    )


def trigger_outcomes(conn: Connection, alert_ids: list[int]) -> list[TriggerOutcome]:
    """The newest trigger per alert and channel, for the alerts a page shows."""
    if not alert_ids:
        return []
    d = DELIVERIES.c
    rows = conn.execute(
        select(d.alert_id, d.channel, d.status, d.context)
        .where(d.alert_id.in_(alert_ids), d.action == "trigger")
        .order_by(d.id)
    )
    newest: dict[tuple[int, str], TriggerOutcome] = {}
    for r in rows:
        context = r.context if isinstance(r.context, dict) else None
        newest[(r.alert_id, r.channel)] = TriggerOutcome(
            r.alert_id, r.channel, r.status, key_fact(context)
        )
    return list(newest.values())


# --- one alert ------------------------------------------------------------------------------


def alert_rows(
    conn: Connection,
    *,
    status: str | None = None,
    limit: int = 100,
    storm: int | None = None,
    offset: int = 0,
) -> list[Row[Any]]:
    """Alerts, the most recently changed first (`/alerts`)."""
    a = ALERTS.c
    query = (
        select(ALERTS)
        .where(KNOWN)
        # The id breaks ties, so that pages (`offset`) neither repeat nor skip an alert.
        .order_by(a.last_change_at.desc(), a.id.desc())
    )
    if status:
        query = query.where(a.status == status)
    if storm is not None:
        query = query.where(a.storm_id == storm)
    return list(conn.execute(query.limit(min(limit, MAX_ALERTS_LISTED)).offset(offset)))


def alert_row(conn: Connection, fingerprint: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(ALERTS).where(ALERTS.c.fingerprint == fingerprint, KNOWN)
    ).one_or_none()
    return dict(row._mapping) if row is not None else None


def transitions(conn: Connection, alert_id: int) -> list[dict[str, Any]]:
    t = TRANSITIONS.c
    rows = conn.execute(
        select(t.status, t.reason, t.at, t.starts_at)
        .where(t.alert_id == alert_id)
        .order_by(t.id.desc())
        .limit(MAX_TRANSITIONS_LISTED)
    )
    return [dict(r._mapping) for r in rows]


def deliveries_of(conn: Connection, alert_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Alert id → its deliveries, oldest first, each its row with `attempt_log`: every
    attempt's row, oldest first."""
    by_alert: dict[int, list[dict[str, Any]]] = {i: [] for i in alert_ids}
    if not alert_ids:
        return by_alert
    d = DELIVERIES.c
    deliveries = [
        dict(r._mapping)
        for r in conn.execute(select(DELIVERIES).where(d.alert_id.in_(alert_ids)).order_by(d.id))
    ]
    attempts: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in deliveries}
    if attempts:
        t = ATTEMPTS.c
        for a in conn.execute(
            select(ATTEMPTS).where(t.delivery_id.in_(list(attempts))).order_by(t.id)
        ):
            attempts[a.delivery_id].append(dict(a._mapping))
    for row in deliveries:
        row["attempt_log"] = attempts[row["id"]]
        by_alert[row["alert_id"]].append(row)
    return by_alert


def alert_deliveries(conn: Connection, alert_id: int) -> list[dict[str, Any]]:
    """Every delivery of the alert, newest first, each with its newest attempts (oldest
    first, at most MAX_ATTEMPTS_PER_DELIVERY)."""
    return [
        {**row, "attempt_log": row["attempt_log"][-MAX_ATTEMPTS_PER_DELIVERY:]}
        for row in reversed(deliveries_of(conn, [alert_id])[alert_id])
    ]


# --- deliveries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFilter:
    status: str = ""
    channel: str = ""
    node: str = ""


def deliveries(conn: Connection, where: DeliveryFilter) -> list[dict[str, Any]]:
    """The newest deliveries matching the filter, with their alert's name and node.

    An outer join: a channel summary belongs to no alert, and a dead one must be listed
    with the other dead letters (the overview counts it) so that someone can retry it."""
    d, a = DELIVERIES.c, ALERTS.c
    query = (
        select(
            d.id,
            d.channel,
            d.action,
            d.status,
            d.attempts,
            d.created_at,
            d.finished_at,
            d.next_attempt_at,
            d.last_error,
            a.fingerprint,
            a.alertname,
            a.node,
            a.severity,
        )
        .outerjoin_from(DELIVERIES, ALERTS, d.alert_id == a.id)
        .order_by(d.id.desc())
        .limit(MAX_DELIVERIES_LISTED)
    )
    if where.status:
        query = query.where(d.status == where.status)
    if where.channel:
        query = query.where(d.channel == where.channel)
    if where.node:
        query = query.where(a.node == where.node)
    return [dict(r._mapping) for r in conn.execute(query)]
