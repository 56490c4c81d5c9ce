"""Who may read alert data over the API.

With `BRIDGE_CONSOLE_READ_AUTH=true` the console's pages ask for a session; the same data
(labels, annotations, delivery errors, who acknowledged, who silenced) is also on
`GET /alerts` and `GET /silences`, so those reads need either the API token as a bearer
token (scripts, the CLI) or a console session (a signed-in browser). Without the switch,
reads are open, as they always were: keep the bridge on localhost or behind a proxy.

A bearer token, when one is offered, is judged whatever the switch: the shipped proxy lets
a request carrying one past its own login on these paths (the bridge checks its tokens
itself), so a made-up token must not read what the login guards.
"""

from __future__ import annotations

from flask import Response, request

from bridge.console import access
from bridge.web.auth import bearer_token, presents_bearer, token_matches
from bridge.web.context import bridge_context
from bridge.web.errors import json_error


def refuse_read() -> Response | None:
    """None when this request may read alert data; otherwise the 401 answer."""
    settings = bridge_context().settings
    expected = settings.api_token  # settings refuse read auth without a token
    if presents_bearer(request):
        if expected and token_matches(bearer_token(request), expected):
            return None
        return _unauthorized("the bearer token is not BRIDGE_API_TOKEN")
    if not settings.console_read_auth or access.signed_in():
        return None
    return _unauthorized(
        "BRIDGE_CONSOLE_READ_AUTH is on: send 'Authorization: Bearer <BRIDGE_API_TOKEN>' "
        "or sign in to the web console"
    )


def _unauthorized(detail: str) -> Response:
    return json_error(401, "unauthorized", detail, WWW_Authenticate='Bearer realm="alert-bridge"')
