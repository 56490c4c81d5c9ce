"""Post a summary to Slack (Web API or incoming webhook), or log it when Slack is not configured.

One attempt per summary, never an open-ended retry: a scheduled summary that
fails is recorded as failed for its slot, and the next one covers the period
since the last summary that was sent (bridge/digest/job.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bridge.notify.tls import client_ssl_context
from bridge.settings import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
NOT_CONFIGURED = "BRIDGE_SLACK_BOT_TOKEN/BRIDGE_SLACK_CHANNEL and BRIDGE_SLACK_WEBHOOK_URL unset"


@dataclass(frozen=True)
class SendOutcome:
    outcome: Literal["sent", "dry_run", "failed"]
    detail: str

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"


def send_digest(
    settings: Settings,
    text: str,
    blocks: list[dict[str, Any]],
    channel: str | None = None,
) -> SendOutcome:
    """Post once; `channel` overrides BRIDGE_SLACK_CHANNEL (Web API only)."""
    if settings.slack_bot_token and settings.slack_channel:
        return _post_api(
            settings, settings.slack_bot_token, channel or settings.slack_channel, text, blocks
        )
    if settings.slack_webhook_url:
        return _post_webhook(settings.slack_webhook_url, settings.ca_bundle, text, blocks)
    log.info("dry-run digest: %s (%s)", text, NOT_CONFIGURED)
    return SendOutcome("dry_run", f"not sent: {NOT_CONFIGURED}")


def _post_api(
    settings: Settings, token: str, channel: str, text: str, blocks: list[dict[str, Any]]
) -> SendOutcome:
    client = WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=TIMEOUT_SECONDS,
        ssl=client_ssl_context(settings.ca_bundle),
        # No automatic retry: a connection cut after Slack accepted the post would
        # repeat the summary, and a summary is worth less than a duplicate costs.
        retry_handlers=[],
    )
    try:
        answer = client.chat_postMessage(channel=channel, text=text, blocks=blocks)
    except SlackApiError as exc:
        status = exc.response.status_code
        error = str(exc.response.get("error", "") or "")
        return SendOutcome("failed", f"slack error: {error or 'no detail'} (HTTP {status})")
    except (OSError, TimeoutError) as exc:
        return SendOutcome("failed", f"network error: {type(exc).__name__}")
    return SendOutcome("sent", f"posted to {answer.get('channel')} (ts {answer.get('ts')})")


def _post_webhook(
    url: str, ca_bundle: str | None, text: str, blocks: list[dict[str, Any]]
) -> SendOutcome:
    try:
        response = requests.post(
            url,
            json={"text": text, "blocks": blocks},
            timeout=TIMEOUT_SECONDS,
            verify=ca_bundle or True,
        )
    except requests.RequestException as exc:
        return SendOutcome("failed", f"network error: {type(exc).__name__}")
    if response.status_code == 200:
        return SendOutcome("sent", "posted via incoming webhook")
    # The webhook URL is itself the secret: report only what Slack answered.
    return SendOutcome(
        "failed", f"incoming webhook: HTTP {response.status_code} {response.text[:200]}"
    )
