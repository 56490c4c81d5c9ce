"""PagerDuty Events API v2 event bodies: pure functions of an alert.

Limits from https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bridge.enrich.render import chart_of, chart_url, key_fact, missing_text, visible_items
from bridge.notify.result import truncate
from bridge.notify.view import AlertView, LinkBase, dashboard_url, links_for

MAX_SUMMARY_CHARS = 1024
MAX_DEDUP_KEY_CHARS = 255
MAX_SOURCE_CHARS = 255
MAX_EVENT_BYTES = 512 * 1024
# The client adds `routing_key` (32 characters) to the body it sends; keep a margin for it.
EVENT_BUDGET_BYTES = MAX_EVENT_BYTES - 1024
# Values of custom_details are never cut shorter than this (unless nothing else fits).
MIN_DETAIL_CHARS = 64
TRIMMED_MARKER = "… [truncated]"
PD_SEVERITIES = ("critical", "error", "warning", "info")
DEDUP_PREFIX = "dgx-spark-bridge/"
CLIENT_NAME = "DGX Spark alert bridge"
# custom_details keys the bridge itself writes; a context line of the same name is prefixed.
RESERVED_DETAILS = ("firing since", "labels", "annotations", "missing context", "truncated")


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


def _source(alert: AlertView) -> str:
    """The node (else the job): PagerDuty refuses a blank `source` with a 400."""
    for candidate in (alert.node, alert.labels.get("job", "")):
        if candidate.strip():
            return candidate
    return "alertmanager"


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
        "source": truncate(_source(alert), MAX_SOURCE_CHARS),
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
    return fit_event(event)


def event_bytes(event: dict[str, Any]) -> int:
    """The size PagerDuty counts: the JSON body as an HTTP client sends it (ASCII-escaped,
    which is never smaller than UTF-8)."""
    return len(json.dumps(event).encode())


def _capped(value: Any, limit: int) -> Any:
    """`value` with every string in it cut to `limit` characters (keys kept)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + TRIMMED_MARKER
    if isinstance(value, dict):
        return {k: _capped(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_capped(v, limit) for v in value]
    return value


def _longest(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return max((_longest(v) for v in items), default=0)


def fit_event(event: dict[str, Any], budget: int = EVENT_BUDGET_BYTES) -> dict[str, Any]:
    """`event` within PagerDuty's 512 KB: the least important content goes first.

    custom_details (labels, annotations, context) are cut to the longest per-value length
    that fits, so short values stay whole and the longest are shortened; the details say
    so. Then, only if that is not enough, the links and images. The summary, source,
    severity and dedup_key, which page someone, are never touched."""
    if event_bytes(event) <= budget:
        return event
    payload = dict(event["payload"])
    details = payload.get("custom_details") or {}
    note = (
        "custom_details shortened to fit PagerDuty's 512 KB event limit: values over {} "
        "characters were cut; the bridge keeps the whole alert (GET /alerts)"
    )
    low, high = MIN_DETAIL_CHARS, _longest(details)
    best: dict[str, Any] | None = None
    while low <= high:  # the longest cap that fits, by bisection: the event is large
        cap = (low + high) // 2
        trial = {**_capped(details, cap), "truncated": note.format(cap)}
        if event_bytes({**event, "payload": {**payload, "custom_details": trial}}) <= budget:
            best, low = trial, cap + 1
        else:
            high = cap - 1
    if best is None:
        best = {"truncated": "custom_details left out: too large for PagerDuty's 512 KB limit"}
    fitted = {**event, "payload": {**payload, "custom_details": best}}
    for optional in ("images", "links"):
        if event_bytes(fitted) <= budget:
            break
        fitted.pop(optional, None)
    return fitted


def resolve_event(alert: AlertView) -> dict[str, Any]:
    return {"event_action": "resolve", "dedup_key": dedup_key(alert.fingerprint)}


def acknowledge_event(alert: AlertView) -> dict[str, Any]:
    """Someone acknowledged from Slack: the incident the trigger opened (same dedup_key)."""
    return {"event_action": "acknowledge", "dedup_key": dedup_key(alert.fingerprint)}
