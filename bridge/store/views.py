"""Read-only views of the store for `/alerts` and metrics. Never includes secrets:
rows hold alert data and delivery outcomes only, and error details are
written by notifiers that redact before storing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from bridge.db.models import AlertRow, AttemptRow, DeliveryRow, StormRow
from bridge.reconcile.rows import muted_states
from bridge.reconcile.view import alertmanager_view
from bridge.store.responses import responses_for
from bridge.storms import LANE_NAMES

MAX_ALERTS_LISTED = 500


def _public_context(context: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored context minus the chart's access key (the chart URL is a capability)."""
    if not context or not isinstance(context.get("_chart"), dict):
        return context
    chart = {k: v for k, v in context["_chart"].items() if k != "key"}
    return {**context, "_chart": chart}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _storms(conn: Connection, ids: set[int]) -> dict[int, dict[str, Any]]:
    """The storm incidents these alerts were folded into."""
    if not ids:
        return {}
    rows = conn.execute(select(StormRow.__table__).where(StormRow.id.in_(sorted(ids))))
    return {
        s.id: {
            "id": s.id,
            "alertname": s.alertname,
            "started_at": _iso(s.started_at),
            "ended_at": _iso(s.ended_at),
            "folded_firings": s.fired_count,
        }
        for s in rows
    }


def list_alerts(
    conn: Connection,
    *,
    status: str | None = None,
    limit: int = 100,
    storm: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    query = (
        select(AlertRow.__table__)
        .where(AlertRow.status != "")
        # The id breaks ties, so that pages (`offset`) neither repeat nor skip an alert.
        .order_by(AlertRow.last_change_at.desc(), AlertRow.id.desc())
    )
    if status:
        query = query.where(AlertRow.status == status)
    if storm is not None:
        query = query.where(AlertRow.storm_id == storm)
    alerts = list(conn.execute(query.limit(min(limit, MAX_ALERTS_LISTED)).offset(offset)))
    if not alerts:
        return []
    ids = [a.id for a in alerts]
    storms = _storms(conn, {a.storm_id for a in alerts if a.storm_id is not None})
    deliveries: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    delivery_rows = list(
        conn.execute(
            select(DeliveryRow.__table__)
            .where(DeliveryRow.alert_id.in_(ids))
            .order_by(DeliveryRow.id)
        )
    )
    attempts: dict[int, list[dict[str, Any]]] = {d.id: [] for d in delivery_rows}
    if delivery_rows:
        for a in conn.execute(
            select(AttemptRow.__table__)
            .where(AttemptRow.delivery_id.in_(list(attempts)))
            .order_by(AttemptRow.id)
        ):
            attempts[a.delivery_id].append(
                {
                    "at": _iso(a.started_at),
                    "outcome": a.outcome,
                    "http_status": a.http_status,
                    "duration_ms": a.duration_ms,
                    "detail": a.detail,
                }
            )
    for d in delivery_rows:
        deliveries[d.alert_id].append(
            {
                "id": d.id,
                "channel": d.channel,
                "action": d.action,
                "status": d.status,
                "attempts": d.attempts,
                "created_at": _iso(d.created_at),
                "next_attempt_at": _iso(d.next_attempt_at) if d.status == "pending" else None,
                "lane": LANE_NAMES.get(d.priority, str(d.priority)),
                "finished_at": _iso(d.finished_at),
                "last_error": d.last_error,
                "context": _public_context(d.context),
                "attempt_log": attempts[d.id],
            }
        )
    # Acknowledgement (who, when, time to acknowledge), silence and PagerDuty's state.
    responses = responses_for(conn, [(a.id, a.starts_at) for a in alerts])
    # Alertmanager's view from reconcile rounds: silenced, inhibited, or why resolved.
    observed = muted_states(conn, [a.fingerprint for a in alerts])
    return [
        {
            "fingerprint": a.fingerprint,
            "alertname": a.alertname,
            "severity": a.severity,
            "node": a.node,
            "status": a.status,
            "starts_at": _iso(a.starts_at),
            "ends_at": _iso(a.ends_at),
            "labels": a.labels,
            "annotations": a.annotations,
            "received": a.received_count,
            "duplicates": a.duplicate_count,
            "first_seen_at": _iso(a.first_seen_at),
            "last_seen_at": _iso(a.last_seen_at),
            "channels": a.channels,
            # The storm incident this firing was folded into (None: paged on its own).
            "storm": storms.get(a.storm_id) if a.storm_id is not None else None,
            "deliveries": deliveries[a.id],
            "response": responses.get(a.id),
            "alertmanager": alertmanager_view(observed.get(a.fingerprint), a.status, a.starts_at),
        }
        for a in alerts
    ]
