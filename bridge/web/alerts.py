"""`GET /alerts`: what the bridge knows of each alert and each delivery attempt."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from bridge.web.context import bridge_context
from bridge.web.errors import json_error

blueprint = Blueprint("alerts", __name__)


@blueprint.get("/alerts")
def list_alerts() -> Response:
    status = request.args.get("status")
    if status not in (None, "firing", "resolved"):
        return json_error(400, "invalid status filter", "status must be firing or resolved")
    raw_limit = request.args.get("limit", "100")
    if not raw_limit.isdigit() or not 0 < int(raw_limit) <= 500:
        return json_error(400, "invalid limit", "limit must be an integer from 1 to 500")
    ctx = bridge_context()
    alerts = ctx.store.list_alerts(status=status, limit=int(raw_limit))
    return jsonify({"alerts": alerts, "outbox": ctx.store.outbox_depth()})
