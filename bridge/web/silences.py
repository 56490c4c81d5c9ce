"""`/silences`: maintenance windows, stored by the bridge and synced to Alertmanager."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import Blueprint, Response, jsonify, request
from flask.sansio.blueprints import BlueprintSetupState

from bridge.silences.metrics import WindowSyncCollector
from bridge.silences.model import WindowError, parse_window
from bridge.store.windows import sync_state_counts
from bridge.web.auth import bearer_token, token_matches
from bridge.web.context import bridge_context, services_of
from bridge.web.errors import json_error
from bridge.web.read_auth import refuse_read

blueprint = Blueprint("silences", __name__)


@blueprint.record_once
def _watch_window_sync(state: BlueprintSetupState) -> None:
    """Window sync states in /metrics, registered once per app with its own registry."""
    ctx = services_of(state.app)  # type: ignore[arg-type]

    def read() -> dict[str, int]:
        with ctx.store.read() as conn:
            return sync_state_counts(conn, ctx.clock())

    ctx.metrics.registry.register(WindowSyncCollector(read))


STATES = ("pending", "active", "expired")


def _refuse_write() -> Response | None:
    """None when the request may write; otherwise the 401/403 answer."""
    expected = bridge_context().settings.api_token
    if not expected:
        return json_error(
            403,
            "writes disabled",
            "no API token is configured: set BRIDGE_API_TOKEN (or BRIDGE_API_TOKEN_FILE) "
            "on the bridge and send it as 'Authorization: Bearer <token>'",
        )
    given = bearer_token(request)
    if given is None:
        return json_error(
            401,
            "unauthorized",
            "send 'Authorization: Bearer <BRIDGE_API_TOKEN>'",
            WWW_Authenticate='Bearer realm="alert-bridge"',
        )
    if not token_matches(given, expected):
        return json_error(403, "forbidden", "the bearer token is not valid")
    return None


@blueprint.post("/silences")
def create() -> Response | tuple[Response, int]:
    refused = _refuse_write()
    if refused is not None:
        return refused
    if request.mimetype != "application/json":
        return json_error(415, "unsupported media type", "Content-Type must be application/json")
    try:
        body = json.loads(request.get_data(cache=False))
    except RecursionError:
        return json_error(
            400, "invalid JSON body", {"field": "body", "message": "nested too deeply"}
        )
    except (ValueError, UnicodeDecodeError) as exc:
        return json_error(400, "invalid JSON body", {"field": "body", "message": str(exc)[:200]})
    ctx = bridge_context()
    try:
        spec = parse_window(
            body,
            ctx.clock(),
            max_duration=timedelta(seconds=ctx.settings.max_window_seconds),
            default_timezone=ctx.settings.timezone,
        )
    except WindowError as exc:
        return json_error(
            400,
            f"invalid window: {exc.field} {exc.message}",
            {"field": exc.field, "message": exc.message},
        )
    return jsonify(ctx.windows.create(spec)), 201


@blueprint.get("/silences")
def list_windows() -> Response:
    refused = refuse_read()
    if refused is not None:
        return refused
    state = request.args.get("state")
    if state is not None and state not in STATES:
        return json_error(400, "invalid state filter", f"state must be one of {', '.join(STATES)}")
    node = request.args.get("node") or None
    windows = bridge_context().windows.list(state=state, node=node)
    return jsonify({"silences": windows})


@blueprint.get("/silences/<window_id>")
def get(window_id: str) -> Response:
    refused = refuse_read()
    if refused is not None:
        return refused
    found = bridge_context().windows.get(window_id)
    if found is None:
        return json_error(404, "not found", f"no window {window_id!r}")
    return jsonify(found)


@blueprint.delete("/silences/<window_id>")
def expire(window_id: str) -> Response:
    refused = _refuse_write()
    if refused is not None:
        return refused
    found = bridge_context().windows.expire(window_id)
    if found is None:
        return json_error(404, "not found", f"no window {window_id!r}")
    return jsonify(found)
