"""Ephemeral answers to the person who clicked, through the click's `response_url`.

Best effort and off the request thread: Slack wants the HTTP answer within 3 seconds,
and an ephemeral note ("not allowed", "resolved meanwhile") is not durable state.
Only URLs that `safe_response_url` accepted reach here.
"""

from __future__ import annotations

import logging
import threading

import requests

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5


def _post(url: str, text: str, verify: str | bool) -> None:
    body = {"response_type": "ephemeral", "replace_original": False, "text": text}
    try:
        response = requests.post(url, json=body, timeout=TIMEOUT_SECONDS, verify=verify)
        if response.status_code >= 400:
            log.warning("Slack refused an ephemeral answer: HTTP %s", response.status_code)
    except requests.RequestException as exc:
        # The URL is a capability: name the failure, never the URL.
        log.warning("ephemeral answer to Slack failed: %s", type(exc).__name__)


def send_ephemeral(url: str, text: str, ca_bundle: str | None) -> threading.Thread:
    thread = threading.Thread(
        target=_post, args=(url, text, ca_bundle or True), name="slack-ephemeral", daemon=True
    )
    thread.start()
    return thread
