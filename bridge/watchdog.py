"""Dead-man's switch on Alertmanager's always-firing Watchdog alert.

When no Watchdog arrived for `BRIDGE_WATCHDOG_TIMEOUT`, the bridge raises its own
alert, `AlertingPipelineDown`, through the normal path (dedup, outbox, PagerDuty
and Slack), and resolves it when Watchdog resumes. Its `startsAt` is derived
from the stored last Watchdog, so every replica computes the same episode and
dedup pages once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from bridge.alerts import Alert, WebhookPayload
from bridge.db.models import AlertRow
from bridge.flapping import FlapLimits
from bridge.routing import Routing
from bridge.store.ingest import IngestResult, ingest

WATCHDOG = "Watchdog"
PIPELINE_DOWN = "AlertingPipelineDown"
FINGERPRINT = "alert-bridge/watchdog-missing"


@dataclass(frozen=True)
class WatchdogVerdict:
    missing: bool
    since: datetime  # when the pipeline was last known good (or the bridge started)


def judge(
    last_seen: datetime | None,
    started_at: datetime,
    now: datetime,
    timeout: timedelta,
    grace: timedelta,
) -> WatchdogVerdict:
    """Pure: is the Watchdog overdue?"""
    if last_seen is None:
        # Never seen since this database began: allow start-up plus grace.
        return WatchdogVerdict(now >= started_at + timeout + grace, started_at)
    return WatchdogVerdict(now >= last_seen + timeout, last_seen)


def pipeline_alert(since: datetime, timeout: timedelta, status: str, now: datetime) -> Alert:
    when = since.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Alert(
        status=status,
        labels={"alertname": PIPELINE_DOWN, "severity": "critical", "component": "alerting"},
        annotations={
            "summary": f"No Watchdog from Alertmanager since {when}: "
            "Prometheus or Alertmanager is down, so no other alert can arrive",
            "description": (
                f"The always-firing Watchdog alert has not reached the bridge for longer than "
                f"{int(timeout.total_seconds())} s (last seen {when}). Check Prometheus "
                "(/-/healthy, rule evaluation), Alertmanager (/-/healthy, the alert-bridge "
                "receiver) and the network between them and the bridge."
            ),
            "runbook_url": "docs/runbooks/AlertingPipelineDown.md",
        },
        starts_at=since + timeout,
        ends_at=now if status == "resolved" else None,
        generator_url="",
        fingerprint=FINGERPRINT,
    )


def _payload(alert: Alert) -> WebhookPayload:
    return WebhookPayload(
        version="4",
        group_key="alert-bridge/watchdog",
        status=alert.status,
        receiver="alert-bridge-watchdog",
        group_labels={},
        common_labels={},
        common_annotations={},
        external_url="",
        truncated_alerts=0,
        alerts=(alert,),
    )


def last_watchdog(conn: Connection) -> datetime | None:
    value: datetime | None = conn.execute(
        select(func.max(AlertRow.last_seen_at)).where(
            AlertRow.alertname == WATCHDOG, AlertRow.status == "firing"
        )
    ).scalar()
    return value


def check(
    conn: Connection,
    routing: Routing,
    *,
    started_at: datetime,
    now: datetime,
    timeout: timedelta,
    grace: timedelta,
    limits: FlapLimits | None = None,
) -> IngestResult | None:
    """Raise or resolve `AlertingPipelineDown` inside the caller's transaction."""
    verdict = judge(last_watchdog(conn), started_at, now, timeout, grace)
    current = conn.execute(
        select(AlertRow.status, AlertRow.starts_at).where(AlertRow.fingerprint == FINGERPRINT)
    ).one_or_none()
    firing = current is not None and current.status == "firing"
    if verdict.missing and not firing:
        return ingest(
            conn,
            _payload(pipeline_alert(verdict.since, timeout, "firing", now)),
            routing,
            now,
            limits,
        )
    if not verdict.missing and firing and current is not None:
        resolved = pipeline_alert(current.starts_at - timeout, timeout, "resolved", now)
        return ingest(conn, _payload(resolved), routing, now, limits)
    return None
