"""`GET /alerts`: what the bridge knows of each alert and each delivery attempt."""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, request

from bridge.web.context import bridge_context
from bridge.web.errors import json_error
from bridge.web.read_auth import refuse_read

blueprint = Blueprint("alerts", __name__)
blueprint.before_request(refuse_read)
# Ids and offsets beyond this many digits overflow the databases' integers.
MAX_ID_DIGITS = 9
# ASCII digits: str.isdigit() also accepts '¹' and '٣', which int() refuses or reads.
_DIGITS = re.compile(rf"[0-9]{{1,{MAX_ID_DIGITS}}}")


def _number(raw: str) -> bool:
    return _DIGITS.fullmatch(raw) is not None


@blueprint.get("/alerts")
def list_alerts() -> Response:
    status = request.args.get("status")
    if status not in (None, "firing", "resolved"):
        return json_error(400, "invalid status filter", "status must be firing or resolved")
    raw_limit = request.args.get("limit", "100")
    if not _number(raw_limit) or not 0 < int(raw_limit) <= 500:
        return json_error(400, "invalid limit", "limit must be an integer from 1 to 500")
    raw_storm = request.args.get("storm")
    if raw_storm is not None and not _number(raw_storm):
        return json_error(400, "invalid storm filter", "storm must be a storm incident's id")
    raw_offset = request.args.get("offset", "0")
    if not _number(raw_offset):
        return json_error(400, "invalid offset", "offset must be a non-negative integer")
    ctx = bridge_context()
    alerts = ctx.store.list_alerts(
        status=status,
        limit=int(raw_limit),
        storm=int(raw_storm) if raw_storm is not None else None,
        offset=int(raw_offset),
    )
    return jsonify({"alerts": alerts, "outbox": ctx.store.outbox_depth()})
