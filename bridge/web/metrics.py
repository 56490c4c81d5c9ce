"""`GET /metrics` in the Prometheus text format."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge.web.context import bridge_context

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def metrics() -> Response:
    registry = bridge_context().metrics.registry
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
