"""`GET /metrics` in the Prometheus text format."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from bridge.web.context import bridge_context

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def metrics() -> Response:
    return Response(bridge_context().metrics.exposition(), mimetype=CONTENT_TYPE_LATEST)
