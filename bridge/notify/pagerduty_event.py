"""PagerDuty Events API v2 event bodies: pure functions of an alert.

Limits from https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
"""

from __future__ import annotations

import hashlib
from typing import Any

from bridge.enrich.render import chart_of, chart_url, key_fact, missing_text, visible_items
from bridge.notify.result import truncate
from bridge.notify.view import AlertView, LinkBase, dashboard_url, links_for

MAX_SUMMARY_CHARS = 1024
MAX_DEDUP_KEY_CHARS = 255
MAX_SOURCE_CHARS = 255
PD_SEVERITIES = ("critical", "error", "warning", "info")
DEDUP_PREFIX = "dgx-spark-bridge/"
CLIENT_NAME = "DGX Spark alert bridge"
# custom_details keys the bridge itself writes; a context line of the same name is prefixed.
RESERVED_DETAILS = ("firing since", "labels", "annotations", "missing context")


def dedup_key(fingerprint: str) -> str:
    """Stable per alert across restarts and replicas: derived from the fingerprint only."""
    key = DEDUP_PREFIX + fingerprint
    if len(key) <= MAX_DEDUP_KEY_CHARS:
        return key
    return DEDUP_PREFIX + hashlib.sha256(fingerprint.encode()).hexdigest()


def pd_severity(severity: str) -> str:
    return severity if severity in PD_SEVERITIES else "error"


def custom_details(alert: AlertView, context: dict[str, Any] | None) -> dict[str, Any]:
    """Context lines first (readable keys, values with units), then what is missing and why,
    then the alert's own data."""
    details: dict[str, Any] = {}
    for key, value in visible_items(context):
        details[f"context: {key}" if key in RESERVED_DETAILS else key] = value
    missing = missing_text(context)
    if missing:
        details["missing context"] = missing
    details["firing since"] = alert.starts_at.isoformat()
    details["labels"] = alert.labels
    details["annotations"] = alert.annotations
    return details


def _images(alert: AlertView, base: LinkBase, context: dict[str, Any] | None) -> list[Any]:
    src = chart_url(context, base.public_url)
    chart = chart_of(context)
    if src is None or chart is None:
        return []
    alt = truncate(str(chart.get("title") or alert.name), 255)
    return [{"src": src, "href": dashboard_url(alert, base), "alt": alt}]


def trigger_event(
    alert: AlertView, base: LinkBase, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "summary": truncate(
            alert.headline_with(alert.fact_with(key_fact(context))), MAX_SUMMARY_CHARS
        ),
        "source": truncate(alert.node or alert.labels.get("job", "") or "alertmanager", 255),
        "severity": pd_severity(alert.severity),
        "timestamp": alert.starts_at.isoformat(),
        "class": alert.name,
        "custom_details": custom_details(alert, context),
    }
    if alert.gpu:
        payload["component"] = f"GPU {alert.gpu}"
    elif alert.labels.get("job"):
        payload["component"] = alert.labels["job"]
    payload["group"] = alert.labels.get("role") or alert.labels.get("cluster") or "dgx-spark"
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": dedup_key(alert.fingerprint),
        "payload": payload,
        "links": links_for(alert, base),
        "client": CLIENT_NAME,
    }
    images = _images(alert, base, context)
    if images:
        event["images"] = images
    if base.public_url:
        event["client_url"] = f"{base.public_url}/alerts"
    return event


def resolve_event(alert: AlertView) -> dict[str, Any]:
    return {"event_action": "resolve", "dedup_key": dedup_key(alert.fingerprint)}


def acknowledge_event(alert: AlertView) -> dict[str, Any]:
    """Someone acknowledged from Slack: the incident the trigger opened (same dedup_key)."""
    return {"event_action": "acknowledge", "dedup_key": dedup_key(alert.fingerprint)}
