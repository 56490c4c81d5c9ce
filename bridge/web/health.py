"""`/healthz` (the process answers) and `/readyz` (database reachable, schema at head,
deliveries running)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from bridge.db.migrate import current_revision, head_revision
from bridge.web.context import bridge_context, delivery_link
from bridge.web.errors import json_error

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    ctx = bridge_context()
    try:
        ctx.store.ping()
        current = current_revision(ctx.store.engine)
    except Exception as exc:
        return json_error(503, "database unavailable", type(exc).__name__)
    head = head_revision()
    if current != head:
        return json_error(503, "schema not at head", {"current": current, "head": head})
    down = delivery_link().down_reason()
    if down is not None:
        # Webhooks are still stored (the outbox keeps them), but nothing is delivered:
        # a load balancer, Docker healthcheck or systemd must see it.
        return json_error(503, "delivery process not running", down)
    return jsonify({"status": "ready", "schema": current})
