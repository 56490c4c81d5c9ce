"""`POST /slack/interactions` and `POST /pagerduty/webhook`: verify, parse, act, answer.

A refused request changes nothing: the signature is checked before the body is parsed,
the body is parsed before anything is read from the database, and every change happens
in one transaction after all checks passed. Without its secret an endpoint is 404.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy.exc import DBAPIError

from bridge.interact import pagerduty as pd
from bridge.interact.allowed import AllowList, Workspace
from bridge.interact.metrics import AcknowledgementCollector
from bridge.interact.respond import send_ephemeral
from bridge.interact.service import SilenceLimits, act_on_click, act_on_pagerduty
from bridge.interact.slack import (
    MAX_INTERACTION_BYTES,
    Click,
    InteractionError,
    parse_click,
    safe_response_url,
    signature_valid,
)
from bridge.services import Services
from bridge.store.responses import firing_acknowledgements
from bridge.web.context import bridge_context, services_of
from bridge.web.errors import json_error

log = logging.getLogger(__name__)
blueprint = Blueprint("interact", __name__)
ALLOW_LIST_KEY = "alert_bridge.allow_list"
WORKSPACE_KEY = "alert_bridge.slack_workspace"


@blueprint.record_once
def _watch_acknowledgements(state: BlueprintSetupState) -> None:
    """Acknowledgements in /metrics, registered once per app with the app's own registry."""
    ctx = services_of(state.app)  # type: ignore[arg-type]
    store = ctx.store
    if ctx.settings.slack_signing_secret:
        # Ask Slack now which workspace the bridge is in, so that a click does not wait for it.
        _workspace(state.app, ctx).team_id()  # type: ignore[arg-type]

    def read() -> tuple[int, list[Any]]:
        with store.read() as conn:
            return firing_acknowledgements(conn)

    ctx.metrics.registry.register(AcknowledgementCollector(read))


def _body(limit: int) -> bytes | None:
    """The raw body, or None when it is over `limit` bytes (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    raw = request.stream.read(limit + 1)
    return None if len(raw) > limit else raw


def _refused(ctx: Services, source: str, status: int, error: str, detail: str = "") -> Response:
    ctx.metrics.interactions.labels(source, "refused", str(status)).inc()
    return json_error(status, error, detail or None)


def _unavailable(ctx: Services, source: str, exc: DBAPIError) -> Response:
    log.error("database unavailable for a %s interaction: %s", source, type(exc).__name__)
    ctx.metrics.interactions.labels(source, "refused", "503").inc()
    return json_error(503, "database unavailable", "retry later", Retry_After="5")


def _allow_list(ctx: Services) -> AllowList:
    """One per app (its user-group cache lives as long as the app)."""
    found = current_app.extensions.get(ALLOW_LIST_KEY)
    if not isinstance(found, AllowList):
        settings = ctx.settings
        found = AllowList(
            settings.slack_allowed_users,
            token=settings.slack_bot_token,
            api_url=settings.slack_api_url,
            ca_bundle=settings.ca_bundle,
        )
        current_app.extensions[ALLOW_LIST_KEY] = found
    return found


def _workspace(app: Flask, ctx: Services) -> Workspace:
    """One per app: the team id is asked for once and kept."""
    found = app.extensions.get(WORKSPACE_KEY)
    if not isinstance(found, Workspace):
        settings = ctx.settings
        found = Workspace(
            token=settings.slack_bot_token,
            api_url=settings.slack_api_url,
            ca_bundle=settings.ca_bundle,
        )
        app.extensions[WORKSPACE_KEY] = found
    return found


def _may_act(ctx: Services, click: Click) -> tuple[bool, str]:
    """Whether the clicking user may act, and if not what to tell them."""
    same_workspace = _workspace(current_app, ctx).admits(click.team_ids)
    if same_workspace is None:
        return False, (
            "This bridge could not ask Slack which workspace it is in just now: nothing was "
            "done, try again in a moment."
        )
    if not same_workspace:
        return False, "Only members of this bridge's own Slack workspace can act on its alerts."
    allowed = _allow_list(ctx).allows(click.user_id)
    if allowed is None:
        return False, (
            "Your user group could not be checked with Slack just now: nothing was done, "
            "try again in a moment."
        )
    return allowed, "" if allowed else "You are not allowed to act on alerts."


def _sync_windows(ctx: Services) -> None:
    """Bring the new window to Alertmanager now; the scheduler retries whatever fails."""

    def run() -> None:
        try:
            ctx.windows.sync_due()
        except Exception:
            log.exception("syncing a window from Slack failed; the scheduler retries")

    threading.Thread(target=run, name="window-sync", daemon=True).start()


@blueprint.post("/slack/interactions")
def slack_interaction() -> Response:
    ctx = bridge_context()
    settings = ctx.settings
    if not settings.slack_signing_secret:
        return json_error(404, "not found", "Slack interactivity is off (no signing secret)")
    raw = _body(MAX_INTERACTION_BYTES)
    if raw is None:
        return _refused(ctx, "slack", 413, "payload too large", f"limit {MAX_INTERACTION_BYTES}")
    if not signature_valid(
        settings.slack_signing_secret,
        raw,
        request.headers.get("X-Slack-Request-Timestamp"),
        request.headers.get("X-Slack-Signature"),
        ctx.clock,
    ):
        return _refused(ctx, "slack", 401, "invalid signature", "bad, missing or old signature")
    try:
        click = parse_click(raw, request.mimetype)
    except InteractionError as exc:
        return _refused(ctx, "slack", exc.status, exc.error, exc.detail)
    reply_to = safe_response_url(click.response_url, settings.slack_api_url)
    allowed, refusal = _may_act(ctx, click)
    if not allowed:
        ctx.metrics.interactions.labels("slack", "not_allowed", "200").inc()
        if reply_to:
            send_ephemeral(reply_to, refusal, settings.ca_bundle)
        return Response(status=200)
    limits = SilenceLimits(settings.timezone, timedelta(seconds=settings.max_window_seconds))
    try:
        outcome = act_on_click(ctx.store.engine, click, limits, ctx.clock())
    except InteractionError as exc:
        return _refused(ctx, "slack", exc.status, exc.error, exc.detail)
    except DBAPIError as exc:
        return _unavailable(ctx, "slack", exc)
    ctx.metrics.interactions.labels("slack", click.choice if outcome.acted else "noop", "200").inc()
    if outcome.seconds_to_acknowledge is not None:
        ctx.metrics.time_to_acknowledge.labels("slack").observe(outcome.seconds_to_acknowledge)
    if outcome.acted:
        ctx.wake(None)
        if outcome.window_id:
            _sync_windows(ctx)
    if outcome.reply and reply_to:
        send_ephemeral(reply_to, outcome.reply, settings.ca_bundle)
    return Response(status=200)


@blueprint.post("/pagerduty/webhook")
def pagerduty_webhook() -> Response:
    ctx = bridge_context()
    secret = ctx.settings.pagerduty_webhook_secret
    if not secret:
        return json_error(404, "not found", "PagerDuty webhooks are off (no webhook secret)")
    raw = _body(pd.MAX_WEBHOOK_BYTES)
    if raw is None:
        return _refused(ctx, "pagerduty", 413, "payload too large", f"limit {pd.MAX_WEBHOOK_BYTES}")
    if not pd.signature_valid(secret, raw, request.headers.get("X-PagerDuty-Signature")):
        return _refused(ctx, "pagerduty", 401, "invalid signature")
    if request.mimetype != "application/json":
        return _refused(ctx, "pagerduty", 400, "unsupported content type", "expected JSON")
    try:
        event = pd.parse_event(raw)
    except pd.WebhookError as exc:
        return _refused(ctx, "pagerduty", 400, "invalid event", str(exc))
    if event is None:
        # PagerDuty disables subscriptions that keep failing: 2xx for what we ignore.
        ctx.metrics.interactions.labels("pagerduty", "ignored", "200").inc()
        return Response(status=200)
    try:
        outcome = act_on_pagerduty(ctx.store.engine, event, ctx.clock())
    except DBAPIError as exc:
        # PagerDuty retries 5xx deliveries: the event is applied when the database is back.
        return _unavailable(ctx, "pagerduty", exc)
    ctx.metrics.interactions.labels(
        "pagerduty", event.type if outcome.acted else "noop", "200"
    ).inc()
    if outcome.seconds_to_acknowledge is not None:
        ctx.metrics.time_to_acknowledge.labels("pagerduty").observe(outcome.seconds_to_acknowledge)
    if outcome.acted:
        ctx.wake(None)
    return Response(status=200)
