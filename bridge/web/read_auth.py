"""Who may read alert data over the API.

With `BRIDGE_CONSOLE_READ_AUTH=true` the console's pages ask for a session; the same data
(labels, annotations, delivery errors, who acknowledged, who silenced) is also on
`GET /alerts` and `GET /silences`, so those reads need either the API token as a bearer
token (scripts, the CLI) or a console session (a signed-in browser). Without the switch,
reads are open, as they always were: keep the bridge on localhost or behind a proxy.
"""

from __future__ import annotations

from flask import Response, request

from bridge.console import access
from bridge.web.auth import bearer_token, token_matches
from bridge.web.context import bridge_context
from bridge.web.errors import json_error


def refuse_read() -> Response | None:
    """None when this request may read alert data; otherwise the 401 answer."""
    settings = bridge_context().settings
    if not settings.console_read_auth:
        return None
    expected = settings.api_token  # settings refuse read auth without a token
    if expected and token_matches(bearer_token(request), expected):
        return None
    if access.signed_in():
        return None
    return json_error(
        401,
        "unauthorized",
        "BRIDGE_CONSOLE_READ_AUTH is on: send 'Authorization: Bearer <BRIDGE_API_TOKEN>' "
        "or sign in to the web console",
        WWW_Authenticate='Bearer realm="alert-bridge"',
    )
