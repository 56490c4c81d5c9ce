"""Who may read and write through the console: a session started with BRIDGE_API_TOKEN.

The session cookie is signed with a key derived from the API token (HMAC), so every
replica accepts the same sessions, no key is stored or logged, and changing the token
ends every session. Writes need the session and the form's CSRF token; without an API
token configured, writes are refused as `/silences` writes are.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from urllib.parse import quote, urlsplit

from flask import request, session
from flask.sansio.app import App

from bridge.settings import Settings

SESSION_COOKIE = "alert_bridge_console"
SESSION_LIFETIME = timedelta(hours=12)
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
    )


def signed_in() -> bool:
    return session.get("auth") is True


def sign_in(given: str, expected: str | None) -> bool:
    """Start a session when `given` is the API token (compared in constant time)."""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return False
    session.clear()
    session.permanent = True
    session["auth"] = True
    session["csrf"] = secrets.token_urlsafe(32)
    return True


def sign_out() -> None:
    session.clear()


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
