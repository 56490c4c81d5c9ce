"""The console's pages and forms. Reads go through `Store.read()`; writes through the same
services as the API (WindowService, the outbox), then wake the delivery worker."""

from __future__ import annotations

import functools
import logging
import math
from datetime import timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.sansio.blueprints import BlueprintSetupState
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from bridge.client_address import client_address
from bridge.console import access
from bridge.console import facts as facts_of
from bridge.console.alert_page import build_alert_page
from bridge.console.deliveries import STATUSES, delivery_line, read_filter
from bridge.console.overview import (
    HealthItem,
    build_cards,
    build_health,
    headline,
    lines_per_card,
    shown_alerts,
)
from bridge.console.probes import Prober
from bridge.console.throttle import RefusalLog, SignInThrottle
from bridge.console.windows import FormError, form_field, sections, window_body
from bridge.notify.registry import link_base
from bridge.reconcile import rows as reconcile_rows
from bridge.reconcile.view import health_line, muted_text
from bridge.routing import CHANNELS
from bridge.silences.model import WindowError, parse_window
from bridge.store import read_model
from bridge.store.outbox import outbox_depth
from bridge.web.context import bridge_context, delivery_link, services_of

blueprint = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)


@blueprint.app_template_filter("url_part")
@functools.lru_cache(maxsize=4096)
def url_part(value: str) -> str:
    """A path segment or query value, percent-encoded; cached, because the overview encodes
    the same node names and fingerprints on every refresh (hundreds per page)."""
    return quote(value, safe="")


PROBER_KEY = "alert_bridge_console_prober"
THROTTLE_KEY = "alert_bridge_console_sign_in_throttle"
# A node's card can be opened to list every firing alert of that node, up to this many.
# Every asset is the bridge's own: no CDN, no inline script or style, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
OPEN_ENDPOINTS = ("console.login", "console.static")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
log = logging.getLogger(__name__)


@blueprint.record_once
def _setup(state: BlueprintSetupState) -> None:
    ctx = services_of(state.app)  # type: ignore[arg-type]
    access.configure_sessions(state.app, ctx.settings)
    host, _port = ctx.settings.listen_host_port
    if not ctx.settings.console_read_auth and host not in LOOPBACK_HOSTS:
        log.warning(
            "the web console shows alerts without sign-in to anyone who reaches %s; "
            "set BRIDGE_CONSOLE_READ_AUTH=true unless a proxy in front restricts it",
            ctx.settings.listen,
        )
    state.app.extensions[THROTTLE_KEY] = (SignInThrottle(), RefusalLog())
    state.app.extensions[PROBER_KEY] = Prober(
        ctx.settings.prometheus_url, ctx.settings.alertmanager_urls
    )


def _tz() -> ZoneInfo:
    return ZoneInfo(bridge_context().settings.timezone)


@blueprint.before_request
def _reads_need_login() -> BaseResponse | None:
    if not bridge_context().settings.console_read_auth or access.signed_in():
        return None
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if request.method == "GET":
        return redirect(url_for("console.login", next=request.full_path))
    return _refused(401, "Sign in first", "This bridge asks for the API token before anything.")


@blueprint.after_request
def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.context_processor
def _page_globals() -> dict[str, Any]:
    settings = bridge_context().settings
    return {
        "signed_in": access.signed_in(),
        "csrf_token": access.csrf_token(),
        "writes_enabled": bool(settings.api_token),
    }


def _refused(status: int, title: str, message: str) -> Response:
    body = render_template("console/refused.html", title=title, message=message)
    return Response(body, status=status, mimetype="text/html")


def _refuse_write() -> Response | None:
    """None when this request may write; otherwise the page that says why not."""
    if not bridge_context().settings.api_token:
        return _refused(
            403,
            "Writes are turned off",
            "No API token is configured: set BRIDGE_API_TOKEN (or BRIDGE_API_TOKEN_FILE) on "
            "the bridge, then sign in with it here.",
        )
    if not access.signed_in():
        return _refused(401, "Sign in first", "Changes need a session: sign in with the API token.")
    if not access.csrf_ok():
        return _refused(
            403,
            "Form expired",
            "This form did not come from your current session. Reload the page and try again.",
        )
    return None


# --- pages ----------------------------------------------------------------------------------


@blueprint.get("/")
def overview() -> str:
    ctx = bridge_context()
    tz, now = _tz(), ctx.clock()
    node = request.args.get("node")
    one_node = node is not None
    facts: facts_of.OverviewFacts | None = None
    observed: dict[str, dict[str, Any]] = {}
    reconcile: dict[str, Any] | None = None
    try:
        with ctx.store.read() as conn:
            facts = facts_of.overview_facts(
                conn, node, lambda f: shown_alerts(f, lines_per_card(f, one_node))
            )
            # Alertmanager's view, from reconcile rounds (bridge/reconcile).
            observed = reconcile_rows.muted_states(conn, [a.fingerprint for a in facts.firing])
            reconcile = reconcile_rows.status(conn)
    except SQLAlchemyError as exc:  # the page still says what it can: the database is down
        log.warning("web console: database unreachable: %s", type(exc).__name__)
    database_ok = facts is not None
    facts = facts or facts_of.OverviewFacts([], [], [], {}, None)
    prober: Prober = current_app.extensions[PROBER_KEY]
    health = build_health(
        database_ok,
        prober.results(),
        facts.outbox,
        facts.watchdog_last_seen,
        now,
        tz,
        timedelta(seconds=ctx.settings.watchdog_timeout_seconds),
        delivery_link().down_reason(),
    )
    if database_ok:
        state, text = health_line(reconcile, now, ctx.settings.reconcile_interval_seconds)
        health.append(HealthItem("Reconciliation", state, text))
    muted = {fp: muted_text(o) for fp, o in observed.items() if muted_text(o)}
    windows = sections(ctx.windows.list(), now, tz) if database_ok else None
    return render_template(
        "console/overview.html",
        overview_url=url_for("console.overview"),
        alert_url=url_for("console.alert", fingerprint="-").removesuffix("-"),
        headline=headline(facts.firing, facts.seen, now, tz, ctx.started_at, node),
        cards=build_cards(
            facts.firing,
            facts.seen,
            facts.outcomes,
            now,
            tz,
            lines_per_card(facts.firing, one_node),
            muted,
        ),
        health=health,
        windows=windows,
        node=node,
    )


@blueprint.get("/alert/<path:fingerprint>")
def alert(fingerprint: str) -> str | Response:
    ctx = bridge_context()
    with ctx.store.read() as conn:
        row = read_model.alert_row(conn, fingerprint)
        if row is None:
            return _refused(404, "No such alert", "The bridge has no alert with that fingerprint.")
        transitions = read_model.transitions(conn, row["id"])
        deliveries = read_model.alert_deliveries(conn, row["id"])
    # The same link bases as the notifications: the addresses people open.
    links = link_base(ctx.settings)
    page = build_alert_page(row, transitions, deliveries, links, ctx.clock(), _tz())
    return render_template("console/alert.html", page=page)


@blueprint.get("/deliveries")
def deliveries() -> str:
    ctx = bridge_context()
    where = read_filter(request.args)
    with ctx.store.read() as conn:
        rows = read_model.deliveries(conn, where)
        nodes = [s.node for s in read_model.nodes_seen(conn) if s.node]
        depth = outbox_depth(conn)
    tz, now = _tz(), ctx.clock()
    return render_template(
        "console/deliveries.html",
        lines=[delivery_line(r, now, tz) for r in rows],
        where=where,
        statuses=STATUSES,
        channels=CHANNELS,
        nodes=nodes,
        depth=depth,
        limit=read_model.MAX_DELIVERIES_LISTED,
    )


# An id past the column's range is no delivery: 404 (it overflowed the database: a 500).
@blueprint.post("/deliveries/<int(max=2147483647):delivery_id>/retry")
def retry(delivery_id: int) -> BaseResponse:
    refused = _refuse_write()
    if refused is not None:
        return refused
    ctx = bridge_context()
    if ctx.store.retry_dead(delivery_id, ctx.clock()):
        ctx.wake(1)
        flash(f"Delivery {delivery_id} is back in the outbox; its next attempt is due now.")
    else:
        flash(f"Delivery {delivery_id} is not a dead letter (any more): nothing to retry.")
    target = request.form.get("next")
    return redirect(access.safe_next(target) if target else url_for("console.deliveries"))


def _windows_page(form: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    ctx = bridge_context()
    with ctx.store.read() as conn:
        nodes = [s.node for s in read_model.nodes_seen(conn) if s.node]
    body = render_template(
        "console/windows.html",
        windows=sections(ctx.windows.list(), ctx.clock(), _tz()),
        nodes=nodes,
        form=form,
        errors=errors,
        timezone=ctx.settings.timezone,
    )
    return Response(body, status=status, mimetype="text/html")


@blueprint.get("/windows")
def windows() -> Response:
    return _windows_page({"created_by": "console", "duration": "2h"}, {})


@blueprint.post("/windows")
def create_window() -> BaseResponse:
    refused = _refuse_write()
    if refused is not None:
        return refused
    ctx = bridge_context()
    form = {k: v for k, v in request.form.items() if k != "csrf"}
    try:
        body = window_body(form, _tz())
        spec = parse_window(
            body,
            ctx.clock(),
            max_duration=timedelta(seconds=ctx.settings.max_window_seconds),
            default_timezone=ctx.settings.timezone,
        )
    except FormError as exc:
        return _windows_page(form, {exc.field: exc.message}, 400)
    except WindowError as exc:
        return _windows_page(form, {form_field(exc.field): f"{exc.field} {exc.message}"}, 400)
    created = ctx.windows.create(spec)
    flash(f"Window {created['id'][:8]} created ({created['state']}).")
    return redirect(url_for("console.windows"))


@blueprint.post("/windows/<window_id>/expire")
def expire_window(window_id: str) -> BaseResponse:
    refused = _refuse_write()
    if refused is not None:
        return refused
    found = bridge_context().windows.expire(window_id)
    if found is None:
        return _refused(404, "No such window", "There is no maintenance window with that id.")
    flash(f"Window {window_id[:8]} expired.")
    return redirect(url_for("console.windows"))


# --- signing in -----------------------------------------------------------------------------


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str:
    target = access.safe_next(request.values.get("next"))
    if request.method == "POST":
        client = client_address(
            request.remote_addr,
            request.headers.getlist("X-Forwarded-For"),
            bridge_context().settings.trusted_proxies,
        )
        started = _try_sign_in(client)
        if started is None:
            return redirect(target)
        status, error, headers = started
    else:
        status, error, headers = 200, "", {}
    body = render_template("console/login.html", next=target, error=error)
    return Response(body, status=status, mimetype="text/html", headers=headers)


def _try_sign_in(client: str) -> tuple[int, str, dict[str, str]] | None:
    """None: a session started; otherwise the status, message and headers of the refusal."""
    ctx = bridge_context()
    now = ctx.clock().timestamp()
    throttle, refusals = current_app.extensions[THROTTLE_KEY]
    wait = throttle.wait_seconds(client, now)
    if wait > 0:
        # Refused before the token is even compared: a guesser learns nothing while waiting.
        _log_refused(refusals, client, now)
        seconds = math.ceil(wait)
        message = f"Too many failed sign-ins from your address: try again in {seconds} s."
        return 429, message, {"Retry-After": str(seconds)}
    try:
        started = access.sign_in(request.form.get("token", ""), ctx.settings.api_token)
    except SQLAlchemyError as exc:
        log.warning("web console: cannot start a session: %s", type(exc).__name__)
        return 503, "The bridge's database is unreachable: no session can start now.", {}
    if started:
        throttle.succeeded(client)
        log.info("web console: session started from %s", client)
        return None
    throttle.failed(client, now)
    _log_refused(refusals, client, now)
    error = (
        "That is not the API token."
        if ctx.settings.api_token
        else "No API token is configured on this bridge (BRIDGE_API_TOKEN): nobody can sign in."
    )
    return 403, error, {}


def _log_refused(refusals: RefusalLog, client: str, now: float) -> None:
    """At most one WARNING a minute, however many attempts: a flood cannot fill the log.
    Never the token that was tried: it may be a real one with a typo."""
    unlogged = refusals.refused(now)
    if unlogged is None:
        return
    more = f" (and {unlogged} more refused since the last such line)" if unlogged else ""
    log.warning("web console: sign-in refused from %s%s", client, more)


@blueprint.post("/logout")
def logout() -> BaseResponse:
    if access.signed_in() and not access.csrf_ok():
        return _refused(403, "Form expired", "Reload the page and try again.")
    access.sign_out()
    return redirect(url_for("console.overview"))
