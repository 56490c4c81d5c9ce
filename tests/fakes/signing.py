"""Requests signed the way Slack and PagerDuty sign theirs, for posting to the bridge.

Written from the vendors' documents, independently of the bridge's verification code:
- Slack: https://docs.slack.dev/authentication/verifying-requests-from-slack: form body
  ``payload=<json>``; ``X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{ts}:{body}")>``,
  ``X-Slack-Request-Timestamp: {ts}``; retries add ``X-Slack-Retry-Num``/``-Reason``.
- PagerDuty: https://developer.pagerduty.com/docs/verifying-webhook-signatures: JSON body;
  ``X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, body)>[,v1=...]`` (one per secret
  while a secret is rotated).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode


@dataclass(frozen=True)
class SignedRequest:
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def slack_body(payload: dict[str, Any]) -> bytes:
    """The form body Slack posts for an interaction (one field, ``payload``)."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_request(
    secret: str,
    payload: dict[str, Any] | None = None,
    *,
    body: bytes | None = None,
    timestamp: int | None = None,
    retry_num: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> SignedRequest:
    """A request as Slack sends it (``body`` overrides the form built from ``payload``)."""
    raw = body if body is not None else slack_body(payload or {})
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(secret, ts, raw),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return SignedRequest(raw, headers)


def pagerduty_signature(secrets: Sequence[str], body: bytes) -> str:
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def pagerduty_request(secrets: Sequence[str], event: dict[str, Any]) -> SignedRequest:
    body = json.dumps(event).encode()
    headers = {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": pagerduty_signature(secrets, body),
        "X-Webhook-Id": str(uuid.uuid4()),
    }
    return SignedRequest(body, headers)


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pagerduty_incident_event(
    event_type: str,
    incident_key: str,
    *,
    status: str,
    incident_id: str = "PINC0001",
    agent: str | None = "Jane Oncall",
    assignees: Sequence[str] = ("Jane Oncall",),
    occurred_at: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A v3 ``incident.*`` event for an incident opened by Events v2 (its ``incident_key``
    is the event's ``dedup_key``). Shape: PagerDuty's "Webhooks v3 overview" sample."""
    base = "https://fake-subdomain.pagerduty.com"
    return {
        "event": {
            "id": event_id or uuid.uuid4().hex[:26].upper(),
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": rfc3339(occurred_at or datetime.now(UTC)),
            "agent": _ref("user", agent, f"{base}/users/PUSER01") if agent else None,
            "client": None,
            "data": {
                "id": incident_id,
                "type": "incident",
                "self": f"https://api.pagerduty.com/incidents/{incident_id}",
                "html_url": f"{base}/incidents/{incident_id}",
                "number": 1,
                "status": status,
                "incident_key": incident_key,
                "created_at": rfc3339(datetime.now(UTC)),
                "title": "alert from the bridge",
                "service": {"id": "PSVC001", "summary": "DGX Spark", "type": "service_reference"},
                "assignees": [
                    _ref("user", name, f"{base}/users/PUSER{i:02d}")
                    for i, name in enumerate(assignees)
                ],
                "escalation_policy": {"id": "PEP0001", "type": "escalation_policy_reference"},
                "teams": [],
                "priority": None,
                "urgency": "high",
                "conference_bridge": None,
                "resolve_reason": None,
            },
        }
    }


def pagerduty_note_event(
    content: str,
    *,
    incident_id: str = "PINC0001",
    agent: str = "Jane Oncall",
    occurred_at: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A v3 ``incident.annotated`` event: its ``data`` is the note."""
    base = "https://fake-subdomain.pagerduty.com"
    return {
        "event": {
            "id": event_id or uuid.uuid4().hex[:26].upper(),
            "event_type": "incident.annotated",
            "resource_type": "incident",
            "occurred_at": rfc3339(occurred_at or datetime.now(UTC)),
            "agent": _ref("user", agent, f"{base}/users/PUSER01"),
            "client": None,
            "data": {
                "incident": {
                    "html_url": f"{base}/incidents/{incident_id}",
                    "id": incident_id,
                    "self": f"https://api.pagerduty.com/incidents/{incident_id}",
                    "summary": "alert from the bridge",
                    "type": "incident_reference",
                },
                "id": "PNOTE01",
                "content": content,
                "trimmed": False,
                "type": "incident_note",
            },
        }
    }


def _ref(kind: str, summary: str, html_url: str) -> dict[str, Any]:
    return {
        "id": html_url.rsplit("/", 1)[-1],
        "type": f"{kind}_reference",
        "summary": summary,
        "self": f"https://api.pagerduty.com/{kind}s/{html_url.rsplit('/', 1)[-1]}",
        "html_url": html_url,
    }
