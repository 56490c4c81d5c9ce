"""PagerDuty Events API v2 event bodies: pure functions of an alert.

Limits from https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
"""

from __future__ import annotations

import hashlib
from typing import Any

from bridge.notify.result import truncate
from bridge.notify.view import AlertView, LinkBase, links_for

MAX_SUMMARY_CHARS = 1024
MAX_DEDUP_KEY_CHARS = 255
MAX_SOURCE_CHARS = 255
PD_SEVERITIES = ("critical", "error", "warning", "info")
DEDUP_PREFIX = "dgx-spark-bridge/"
CLIENT_NAME = "DGX Spark alert bridge"


def dedup_key(fingerprint: str) -> str:
    """Stable per alert across restarts and replicas: derived from the fingerprint only."""
    key = DEDUP_PREFIX + fingerprint
    if len(key) <= MAX_DEDUP_KEY_CHARS:
        return key
    return DEDUP_PREFIX + hashlib.sha256(fingerprint.encode()).hexdigest()


def pd_severity(severity: str) -> str:
    return severity if severity in PD_SEVERITIES else "error"


def trigger_event(
    alert: AlertView, base: LinkBase, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    details: dict[str, Any] = {
        "firing since": alert.starts_at.isoformat(),
        "labels": alert.labels,
        "annotations": alert.annotations,
    }
    if context:
        details["context"] = context
    payload: dict[str, Any] = {
        "summary": truncate(alert.headline, MAX_SUMMARY_CHARS),
        "source": truncate(alert.node or alert.labels.get("job", "") or "alertmanager", 255),
        "severity": pd_severity(alert.severity),
        "timestamp": alert.starts_at.isoformat(),
        "class": alert.name,
        "custom_details": details,
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
    if base.public_url:
        event["client_url"] = f"{base.public_url}/alerts"
    return event


def resolve_event(alert: AlertView) -> dict[str, Any]:
    return {"event_action": "resolve", "dedup_key": dedup_key(alert.fingerprint)}
