"""`POST /webhook/alertmanager`: validate, commit, then answer.

Alertmanager retries 5xx and never 4xx, so: 4xx only for input that can never
succeed, 503 when the database is unavailable, 200 only after the commit.
"""

from __future__ import annotations

import json
import logging
from collections import Counter

from flask import Blueprint, Response, request
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from bridge.alerts import PayloadError, parse_payload
from bridge.store import InsertRace
from bridge.web.auth import bearer_token, token_matches
from bridge.web.context import bridge_context, delivery_link
from bridge.web.errors import json_error

log = logging.getLogger(__name__)
blueprint = Blueprint("webhook", __name__)


def _rejected(status: int, error: str, detail: object = None, **headers: str) -> Response:
    bridge_context().metrics.webhook_requests.labels(str(status)).inc()
    return json_error(status, error, detail, **headers)


@blueprint.post("/webhook/alertmanager")
def receive() -> Response:
    ctx = bridge_context()
    settings = ctx.settings
    if settings.webhook_token and not token_matches(bearer_token(request), settings.webhook_token):
        return _rejected(
            401,
            "unauthorized",
            "a valid Authorization: Bearer token is required",
            WWW_Authenticate='Bearer realm="alert-bridge"',
        )
    if request.mimetype != "application/json":
        return _rejected(415, "unsupported media type", "Content-Type must be application/json")
    if request.content_length is not None and request.content_length > settings.max_body_bytes:
        return _rejected(413, "payload too large", f"limit is {settings.max_body_bytes} bytes")
    raw = request.get_data(cache=False)
    if len(raw) > settings.max_body_bytes:
        return _rejected(413, "payload too large", f"limit is {settings.max_body_bytes} bytes")
    try:
        body = json.loads(raw)
    except RecursionError:
        return _rejected(
            400, "invalid JSON body", {"field": "body", "message": "nested too deeply"}
        )
    except (ValueError, UnicodeDecodeError) as exc:
        return _rejected(400, "invalid JSON body", {"field": "body", "message": str(exc)[:200]})
    try:
        payload = parse_payload(body, max_alerts=settings.max_alerts_per_payload, now=ctx.clock())
    except PayloadError as exc:
        return _rejected(
            400,
            f"invalid payload: {exc.field} {exc.message}",
            {"field": exc.field, "message": exc.message},
        )
    try:
        with delivery_link().ingesting():
            result = ctx.store.ingest(
                payload, ctx.config.routing, ctx.clock(), ctx.flap_limits, ctx.storm_limits
            )
    except DataError as exc:
        # A value the database refuses (and the parser let through): retrying cannot help.
        log.warning("database refused a value of the payload: %s", type(exc.orig).__name__)
        return _rejected(400, "invalid payload: a value cannot be stored", {"field": "alerts"})
    except (OperationalError, DBAPIError) as exc:
        log.error("database unavailable, asking Alertmanager to retry: %s", type(exc).__name__)
        return _rejected(503, "database unavailable", "retry later", Retry_After="5")
    except InsertRace:
        # Other replicas kept creating this payload's alerts first: its next try finds them.
        log.warning(
            "lost the race to create an alert on every attempt, asking Alertmanager to retry"
        )
        return _rejected(503, "concurrent update", "retry later", Retry_After="1")
    for status, count in Counter(alert.status for alert in payload.alerts).items():
        ctx.metrics.alerts_received.labels(status).inc(count)
    if result.duplicates:
        ctx.metrics.duplicates.inc(result.duplicates)
    ctx.metrics.webhook_requests.labels("200").inc()
    ctx.metrics.ingest_batch.observe(result.batch)
    if result.notifications:
        ctx.wake(result.notifications)
    if payload.truncated_alerts:
        # Alertmanager cut this webhook at max_alerts and never sends the rest: read them
        # from its API now (bridge/reconcile).
        log.info(
            "webhook cut by Alertmanager (%d alerts left out): reconciling now",
            payload.truncated_alerts,
        )
        ctx.reconcile_now()
    # As jsonify would, without its per-call lookups (this is the hot path).
    answer = json.dumps(result.as_json(), separators=(",", ":"))
    return Response(answer + "\n", 200, mimetype="application/json")
