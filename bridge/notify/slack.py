"""Slack: Web API (`slack_sdk.WebClient`) with threads and updates, or an incoming webhook.

Slack reports most errors as HTTP 200 with `ok: false`; those are permanent
except `ratelimited`. HTTP 429 carries an integer `Retry-After`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bridge.clock import Clock, utcnow
from bridge.enrich.chart import render_chart
from bridge.enrich.render import chart_of
from bridge.notify.result import (
    Delivered,
    Outcome,
    PermanentFailure,
    RetryLater,
    classify_http,
    parse_retry_after,
    truncate,
)
from bridge.notify.slack_blocks import group_message, resolved_reply, single_message
from bridge.notify.storm_message import ended_line, joined_line, storm_slack_message
from bridge.notify.summary import is_summary, summary_of
from bridge.notify.tls import client_ssl_context
from bridge.notify.view import AlertView, LinkBase
from bridge.store.outbox import NOTE_ACTIONS, STATE_ACTION, Job, SlackMessage
from bridge.store.storm_rows import STORM_END, STORM_OPEN, STORM_STATE

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
CHART_FILENAME = "chart.png"
RETRYABLE_ERRORS = ("ratelimited", "internal_error", "fatal_error", "service_unavailable")


def _views(job: Job) -> list[AlertView]:
    return [AlertView.from_snapshot({**d.snapshot, "alert_id": d.alert_id}) for d in job.deliveries]


def note_text(job: Job) -> str:
    """The prepared text of a reminder or flap notice (written when it was due)."""
    return str(job.deliveries[0].snapshot.get("note") or job.action)


def compose(
    job: Job, links: LinkBase, *, interactive: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """The message a trigger job posts (with buttons when interactions are verified)."""
    views = _views(job)
    if len(views) == 1:
        return single_message(views[0], links, job.deliveries[0].context, interactive=interactive)
    return group_message(views, links, interactive=interactive)


def recompose(
    job: Job, message: SlackMessage, links: LinkBase, *, interactive: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """The message as it should read now: its alerts' current state and responses."""
    members = [AlertView.from_snapshot(a) for a in message.alerts]
    if len(members) > 1:
        return group_message(members, links, interactive=interactive)
    own = AlertView.from_snapshot(job.deliveries[0].snapshot)
    if members:
        first = members[0]
        own = replace(own, alert_id=first.alert_id, paged=first.paged, response=first.response)
    return single_message(own, links, interactive=interactive)


def _api_error(exc: SlackApiError) -> Outcome:
    status = exc.response.status_code
    error = str(exc.response.get("error", "") or f"HTTP {status}")
    if status == 429 or error == "ratelimited":
        return RetryLater(
            f"rate limited: {error}",
            status,
            parse_retry_after(exc.response.headers.get("Retry-After")),
        )
    if status >= 500 or error in RETRYABLE_ERRORS:
        return RetryLater(f"slack error: {error}", status)
    return PermanentFailure(f"slack error: {error}", status)


class SlackNotifier:
    channel = "slack"

    def __init__(
        self,
        token: str,
        default_channel: str,
        api_url: str,
        links: LinkBase,
        ca_bundle: str | None = None,
        clock: Clock = utcnow,
        *,
        interactive: bool = False,
    ) -> None:
        self._interactive = interactive
        self._client = WebClient(
            token=token,
            base_url=api_url,
            timeout=TIMEOUT_SECONDS,
            ssl=client_ssl_context(ca_bundle),
            # The outbox owns retries: a connection error retried in here could post
            # a message twice (Slack may have accepted it) and leave no attempt record.
            retry_handlers=[],
        )
        self._clock = clock
        self._channel = default_channel
        self._links = links

    def send(self, job: Job) -> Outcome:
        if job.storm_id is not None and job.storm is None:
            return PermanentFailure(f"storm {job.storm_id} no longer exists")
        try:
            if is_summary(job):
                return self._summary(job)
            if job.storm is not None:
                return self._storm(job)
            if job.action in NOTE_ACTIONS:
                return self._note(job)
            if job.action == "resolve" and job.slack_message is not None:
                return self._resolve_in_place(job)
            if job.action == STATE_ACTION:
                return self._state(job)
            text, blocks = compose(job, self._links, interactive=self._interactive)
            answer = self._client.chat_postMessage(channel=self._channel, text=text, blocks=blocks)
        except SlackApiError as exc:
            return _api_error(exc)
        except (OSError, TimeoutError) as exc:
            return RetryLater(f"network error: {type(exc).__name__}")
        detail = f"posted {job.action}"
        if job.action == "trigger":
            detail += self._upload_chart(job, str(answer.get("channel")), str(answer.get("ts")))
        return Delivered(
            detail=detail,
            http_status=200,
            external_ref=str(answer.get("ts")),
            slack_channel=str(answer.get("channel")),
        )

    def _storm(self, job: Job) -> Outcome:
        """The storm's one message: posted once, then updated in place, with thread lines
        for nodes that joined since the last update and for the storm's end."""
        view = job.storm
        assert view is not None
        text, blocks = storm_slack_message(
            view, self._links.public_url, interactive=self._interactive
        )
        if view.slack_ts and view.slack_channel:
            self._client.chat_update(
                channel=view.slack_channel, ts=view.slack_ts, text=text, blocks=blocks
            )
            channel, ts, detail = view.slack_channel, view.slack_ts, "updated the storm message"
        else:
            answer = self._client.chat_postMessage(channel=self._channel, text=text, blocks=blocks)
            channel, ts = str(answer.get("channel")), str(answer.get("ts"))
            detail = "posted the storm message"
        # The first message lists its nodes itself; later ones announce who joined.
        joined = view.new_nodes if view.slack_ts else ()
        if job.action == STORM_END:
            self._client.chat_postMessage(channel=channel, thread_ts=ts, text=ended_line(view))
            detail += "; said in the thread that it is over"
        elif joined:
            line = joined_line(view, joined)
            self._client.chat_postMessage(channel=channel, thread_ts=ts, text=line)
            detail += f"; {len(joined)} joined node(s) in the thread"
        if job.action == STORM_STATE:
            # What people did (from Slack or PagerDuty): one line in the storm's thread.
            self._client.chat_postMessage(channel=channel, thread_ts=ts, text=note_text(job))
            detail += "; what people did in the thread"
        return Delivered(detail=detail, http_status=200, external_ref=ts, slack_channel=channel)

    def _upload_chart(self, job: Job, channel_id: str, ts: str) -> str:
        """The alert's chart into the message's thread (`files_upload_v2`).

        Best effort: the message is already posted, and a retry would post it twice, so a
        failed upload is logged and noted in the attempt's detail, never a failed delivery.
        """
        chart = chart_of(job.deliveries[0].context) if len(job.deliveries) == 1 else None
        if chart is None or not chart.get("series"):
            return ""
        try:
            self._client.files_upload_v2(
                channel=channel_id,
                thread_ts=ts,
                content=render_chart(chart),
                filename=CHART_FILENAME,
                title=str(chart.get("title") or "chart"),
                alt_txt=truncate(f"Chart: {chart.get('title', '')}, last hour", 1000),
            )
        except (SlackApiError, SlackRequestError, OSError, TimeoutError) as exc:
            log.warning("chart upload to Slack failed: %s", type(exc).__name__)
            return f"; chart upload failed ({type(exc).__name__})"
        except Exception as exc:  # a drawing bug must not turn a posted message into a retry
            log.exception("chart rendering failed")
            return f"; chart upload failed ({type(exc).__name__})"
        return "; chart uploaded to the thread"

    def _summary(self, job: Job) -> Outcome:
        summary = summary_of(job)
        channel = summary.channel or self._channel
        answer = self._client.chat_postMessage(
            channel=channel, text=summary.text, blocks=summary.blocks
        )
        return Delivered(
            detail=f"posted summary to {answer.get('channel')}",
            http_status=200,
            external_ref=str(answer.get("ts")),
        )

    def _note(self, job: Job) -> Outcome:
        """Reminders and flap notices: a reply in the alert's thread (or a new message)."""
        text = note_text(job)
        message = job.slack_message
        if message is not None:
            answer = self._client.chat_postMessage(
                channel=message.channel, thread_ts=message.ts, text=text
            )
        else:
            answer = self._client.chat_postMessage(channel=self._channel, text=text)
        return Delivered(
            detail=f"posted {job.action}",
            http_status=200,
            external_ref=str(answer.get("ts")),
        )

    def _state(self, job: Job) -> Outcome:
        """What people did: the message updated in place, and one line in its thread."""
        message = job.slack_message
        if message is None:
            return Delivered(detail="no Slack message to update", http_status=200)
        text, blocks = recompose(job, message, self._links, interactive=self._interactive)
        self._client.chat_update(channel=message.channel, ts=message.ts, text=text, blocks=blocks)
        self._client.chat_postMessage(
            channel=message.channel, thread_ts=message.ts, text=note_text(job)
        )
        return Delivered(
            detail="updated message and replied in thread",
            http_status=200,
            external_ref=message.ts,
        )

    def _resolve_in_place(self, job: Job) -> Outcome:
        message = job.slack_message
        assert message is not None
        text, blocks = recompose(job, message, self._links, interactive=self._interactive)
        self._client.chat_update(channel=message.channel, ts=message.ts, text=text, blocks=blocks)
        reply = resolved_reply(AlertView.from_snapshot(job.deliveries[0].snapshot), self._clock())
        self._client.chat_postMessage(channel=message.channel, thread_ts=message.ts, text=reply)
        return Delivered(
            detail="updated message and replied in thread",
            http_status=200,
            external_ref=message.ts,
            slack_channel=message.channel,
        )


class SlackWebhookNotifier:
    """Incoming webhook: simpler to set up, but cannot thread or update."""

    channel = "slack"

    def __init__(self, url: str, links: LinkBase, ca_bundle: str | None = None) -> None:
        self._url = url
        self._links = links
        self._verify: str | bool = ca_bundle or True

    def send(self, job: Job) -> Outcome:
        body: dict[str, Any] = {"text": note_text(job)}
        if is_summary(job):
            summary = summary_of(job)
            body = {"text": summary.text, "blocks": summary.blocks}
        elif job.storm is not None and job.action == STORM_STATE:
            pass  # a webhook cannot update a message: what people did is posted as its line
        elif job.storm is not None:
            if job.action not in (STORM_OPEN, STORM_END):
                return Delivered(detail="incoming webhook cannot update the storm message")
            text, blocks = storm_slack_message(job.storm, self._links.public_url)
            body = {"text": text, "blocks": blocks}
        # A webhook cannot update a message: what people did is posted as its line.
        elif job.action not in (*NOTE_ACTIONS, STATE_ACTION):
            text, blocks = compose(job, self._links)
            body = {"text": text, "blocks": blocks}
        try:
            response = requests.post(
                self._url,
                json=body,
                timeout=TIMEOUT_SECONDS,
                verify=self._verify,
            )
        except requests.RequestException as exc:
            return RetryLater(f"network error: {type(exc).__name__}")
        if response.status_code == 200:
            return Delivered(detail=f"posted {job.action} via webhook", http_status=200)
        # The webhook URL is itself the secret: never echo it, only the body Slack sent.
        return classify_http(
            response.status_code, response.text[:200], response.headers.get("Retry-After")
        )
