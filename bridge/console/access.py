"""Who may read and write through the console: a session started with BRIDGE_API_TOKEN.

The session cookie is signed with a key derived from the API token (HMAC), so every
replica accepts the same cookies, no key is stored or logged, and changing the token
ends every session. The cookie carries a random session id that must name a live row of
`console_sessions` (bridge/console/sessions.py): a session ends SESSION_LIFETIME after
sign-in however often the page refreshes, and signing out revokes it on every replica,
copied cookies included. Writes need the session and the form's CSRF token; without an
API token configured, writes are refused as `/silences` writes are.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from urllib.parse import quote, urlsplit

from flask import g, request, session
from flask.sansio.app import App
from sqlalchemy.exc import SQLAlchemyError

from bridge.console.sessions import revoke_session, session_active, start_session
from bridge.settings import Settings
from bridge.web.context import bridge_context

SESSION_COOKIE = "alert_bridge_console"
# From sign-in, not from the last request: an open tab refreshing itself does not extend it.
SESSION_LIFETIME = timedelta(hours=12)
SESSION_ID_KEY = "sid"
_CHECKED_KEY = "alert_bridge_console_signed_in"
log = logging.getLogger(__name__)
_KEY_PURPOSE = b"alert-bridge console session key v1"


def configure_sessions(app: App, settings: Settings) -> None:
    token = settings.api_token
    if token:
        app.secret_key = hmac.new(token.encode(), _KEY_PURPOSE, hashlib.sha256).digest()
    elif not app.secret_key:
        # No token: no session can ever be signed in, so a per-process key costs nothing.
        app.secret_key = secrets.token_bytes(32)
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=(settings.public_url or "").startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # The cookie's own expiry stays that of the sign-in too.
        SESSION_REFRESH_EACH_REQUEST=False,
    )


def signed_in() -> bool:
    """A live session (checked against the database once per request)."""
    checked = g.get(_CHECKED_KEY)
    if not isinstance(checked, bool):
        checked = _session_is_live()
        setattr(g, _CHECKED_KEY, checked)
    return checked


def _session_is_live() -> bool:
    session_id = session.get(SESSION_ID_KEY)
    if not isinstance(session_id, str):
        return False
    ctx = bridge_context()
    try:
        with ctx.store.read() as conn:
            return session_active(conn, session_id, ctx.clock())
    except SQLAlchemyError as exc:  # fail closed: no database, no session
        log.warning("web console: cannot check a session: %s", type(exc).__name__)
        return False


def sign_in(given: str, expected: str | None) -> bool:
    """Start a session when `given` is the API token (compared in constant time).

    Raises SQLAlchemyError when the database cannot record the session."""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return False
    ctx = bridge_context()
    session_id = start_session(ctx.store.engine, ctx.clock(), SESSION_LIFETIME)
    session.clear()
    session.permanent = True
    session[SESSION_ID_KEY] = session_id
    session["csrf"] = secrets.token_urlsafe(32)
    setattr(g, _CHECKED_KEY, True)
    return True


def sign_out() -> None:
    """Revoke the session (every copy of the cookie) and forget it in this browser."""
    session_id = session.get(SESSION_ID_KEY)
    if isinstance(session_id, str):
        ctx = bridge_context()
        revoke_session(ctx.store.engine, session_id, ctx.clock())
    session.clear()
    setattr(g, _CHECKED_KEY, False)


def csrf_token() -> str:
    token = session.get("csrf")
    return token if isinstance(token, str) else ""


def csrf_ok() -> bool:
    expected = csrf_token()
    given = request.form.get("csrf", "")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


# Characters kept as they are in a rebuilt path or query; everything else (control
# characters, "\\", spaces, non-ASCII) is percent-encoded, so that what the browser reads
# is the same path the bridge checked.
_PATH_SAFE = "/-._~!$&'()*+,;=:@%"
_QUERY_SAFE = _PATH_SAFE + "?"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path (and query) on this site, never another host.

    The target is parsed, then rebuilt from its path and query alone. Parsing first matters:
    browsers drop tabs and newlines anywhere in a URL and read "\\" as "/", so a check on
    the raw text ("starts with //") misses `/<TAB>/evil.example/`, which a browser opens as
    `//evil.example/`. Python's `urlsplit` drops the same characters, so a target that
    names a scheme or a host after that is refused; the rebuilt path percent-encodes
    whatever is left that a browser could reinterpret.
    """
    if not target:
        return "/"
    try:
        parts = urlsplit(target.strip())
    except ValueError:  # e.g. an unbalanced "[" read as an IPv6 host
        return "/"
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or "\\" in parts.path:
        return "/"
    path = quote(parts.path, safe=_PATH_SAFE)
    if path.startswith("//"):  # "///evil.example" parses as a path; a browser reads a host
        return "/"
    query = quote(parts.query, safe=_QUERY_SAFE)
    return f"{path}?{query}" if query else path
