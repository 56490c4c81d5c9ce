"""`/alerts` as JSON: the read model (store/read_model.py) shaped for the API. Never
includes secrets: rows hold alert data and delivery outcomes only, error details are
written by notifiers that redact before storing, and a chart's access key is dropped."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from bridge.db.models import StormRow
from bridge.reconcile.rows import muted_states
from bridge.reconcile.view import alertmanager_view
from bridge.store.read_model import alert_rows, deliveries_of
from bridge.store.responses import responses_for
from bridge.storms import LANE_NAMES


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


def _attempt(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": _iso(row["started_at"]),
        "outcome": row["outcome"],
        "http_status": row["http_status"],
        "duration_ms": row["duration_ms"],
        "detail": row["detail"],
    }


def _delivery(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "channel": row["channel"],
        "action": row["action"],
        "status": row["status"],
        "attempts": row["attempts"],
        "created_at": _iso(row["created_at"]),
        "next_attempt_at": _iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "lane": LANE_NAMES.get(row["priority"], str(row["priority"])),
        "finished_at": _iso(row["finished_at"]),
        "last_error": row["last_error"],
        "context": _public_context(row["context"]),
        "attempt_log": [_attempt(a) for a in row["attempt_log"]],
    }


def list_alerts(
    conn: Connection,
    *,
    status: str | None = None,
    limit: int = 100,
    storm: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    alerts = alert_rows(conn, status=status, limit=limit, storm=storm, offset=offset)
    if not alerts:
        return []
    storms = _storms(conn, {a.storm_id for a in alerts if a.storm_id is not None})
    deliveries = deliveries_of(conn, [a.id for a in alerts])
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
            "deliveries": [_delivery(d) for d in deliveries[a.id]],
            "response": responses.get(a.id),
            "alertmanager": alertmanager_view(observed.get(a.fingerprint), a.status, a.starts_at),
        }
        for a in alerts
    ]
