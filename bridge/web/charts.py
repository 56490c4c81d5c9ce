"""`GET /charts/<delivery id>.png?key=…`: the chart of a notification, at a stable URL.

PagerDuty shows `images[].src` by fetching it itself, so this is reachable without a token;
the per-delivery random `key` stored with the context keeps charts from being enumerated by
id. The picture is drawn from the points stored at enrichment time, so it never changes and
costs Prometheus nothing; only when those points are missing (Prometheus was slow then) is the
stored range queried again, from the configured Prometheus and nowhere else.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, request

from bridge.enrich.chart import render_chart
from bridge.enrich.context import chart_spec_with_series
from bridge.enrich.prometheus import PrometheusClient, PrometheusError
from bridge.enrich.render import chart_of
from bridge.web.context import bridge_context
from bridge.web.errors import json_error

blueprint = Blueprint("charts", __name__)

PROMETHEUS_KEY = "alert_bridge_prometheus"
# Stored points never change; a chart drawn from a fresh query might, so it is cached briefly.
STORED_MAX_AGE = 86400
QUERIED_MAX_AGE = 60
QUERY_TIMEOUT_SECONDS = 5.0
# ASCII digits only (str.isdigit() accepts '¹', which int() refuses), and short enough
# for the database's integer column.
_DELIVERY_ID = re.compile(r"[0-9]{1,18}")


def _stored_chart(delivery_id: int) -> Mapping[str, Any] | None:
    context = bridge_context().store.delivery_context(delivery_id)
    return chart_of(context) if context is not None else None


@blueprint.get("/charts/<delivery_id>.png")
def chart_png(delivery_id: str) -> Response:
    # A plain string route (not <int:…>) keeps the URL rule identical to the documented path.
    chart = _stored_chart(int(delivery_id)) if _DELIVERY_ID.fullmatch(delivery_id) else None
    key = request.args.get("key", "")
    stored_key = chart.get("key") if chart is not None else None
    # Compared as bytes: compare_digest refuses non-ASCII str (a 500 only for ids with charts).
    given = key.encode("utf-8", "replace")
    if (
        chart is None
        or not isinstance(stored_key, str)
        or not hmac.compare_digest(given, stored_key.encode())
    ):
        # One answer for "no such delivery" and "wrong key": the id alone reveals nothing.
        return json_error(404, "no such chart", "unknown delivery id or wrong key")
    max_age = STORED_MAX_AGE
    if "series" not in chart:
        prometheus: PrometheusClient | None = current_app.extensions.get(PROMETHEUS_KEY)
        if prometheus is None:
            return json_error(503, "chart data unavailable", "enrichment is disabled")
        try:
            series = prometheus.query_range(
                str(chart["expr"]),
                float(chart["start"]),
                float(chart["end"]),
                float(chart["step"]),
                QUERY_TIMEOUT_SECONDS,
            )
        except PrometheusError as exc:
            return json_error(503, "chart data unavailable", str(exc))
        chart = chart_spec_with_series(chart, series)
        max_age = QUERIED_MAX_AGE
    response = Response(render_chart(chart), mimetype="image/png")
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response
