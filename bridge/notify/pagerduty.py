"""PagerDuty Events API v2, through the `pagerduty` package's `EventsApiV2Client`.

The client's own retry loops are switched off: the outbox worker owns retries,
so a slow PagerDuty never holds a worker thread in a sleep.
"""

from __future__ import annotations

import logging
from typing import Any

import pagerduty

from bridge.notify.pagerduty_event import (
    acknowledge_event,
    fit_event,
    resolve_event,
    trigger_event,
)
from bridge.notify.result import (
    Delivered,
    Outcome,
    PermanentFailure,
    RetryLater,
    classify_http,
    truncate,
)
from bridge.notify.storm_message import (
    resolved_in_pagerduty,
    storm_acknowledge_event,
    storm_resolve_event,
    storm_trigger_event,
)
from bridge.notify.tls import client_ssl_context
from bridge.notify.view import AlertView, LinkBase
from bridge.store.outbox import ACKNOWLEDGE_ACTION, Job
from bridge.store.storm_rows import STORM_ACK, STORM_END

log = logging.getLogger(__name__)

# Seconds for the whole request (connect + read); PagerDuty answers in well under one.
TIMEOUT_SECONDS = 10


class PagerDutyNotifier:
    channel = "pagerduty"

    def __init__(
        self, routing_key: str, events_url: str, links: LinkBase, ca_bundle: str | None = None
    ) -> None:
        self._client = pagerduty.EventsApiV2Client(
            routing_key, base_url=events_url, verify=client_ssl_context(ca_bundle)
        )
        self._client.timeout = TIMEOUT_SECONDS
        # Every status comes straight back to us: no internal sleeps or retries.
        self._client.retry = {401: 1, 429: 1}
        self._client.max_http_attempts = -1
        self._client.max_network_attempts = 0
        self._links = links

    def event_for(self, job: Job) -> dict[str, Any] | None:
        """The event to send; None: nothing to send (a storm resolved in PagerDuty)."""
        if job.storm is not None:
            if job.action == STORM_END:
                return storm_resolve_event(job.storm)
            if job.action == STORM_ACK:
                return storm_acknowledge_event(job.storm)
            if resolved_in_pagerduty(job.storm):
                return None
            # Storm events are built elsewhere; every event leaves within PagerDuty's limit.
            return fit_event(storm_trigger_event(job.storm, self._links.public_url))
        delivery = job.deliveries[0]
        alert = AlertView.from_snapshot(delivery.snapshot)
        if job.action == "resolve":
            return resolve_event(alert)
        if job.action == ACKNOWLEDGE_ACTION:
            return acknowledge_event(alert)
        return trigger_event(alert, self._links, delivery.context)

    def send(self, job: Job) -> Outcome:
        if job.storm_id is not None and job.storm is None:
            return PermanentFailure(f"storm {job.storm_id} no longer exists")
        event = self.event_for(job)
        if event is None:
            return Delivered(
                detail="not sent: the storm's incident was resolved in PagerDuty (no new page)"
            )
        try:
            response = self._client.post("/v2/enqueue", json=event)
        except pagerduty.Error as exc:
            # The message names only the endpoint; the routing key is in the body.
            cause = exc.__cause__ or exc
            return RetryLater(f"network error: {type(cause).__name__}")
        if response.status_code in (200, 201, 202):
            return Delivered(
                detail=f"{event['event_action']} accepted",
                http_status=response.status_code,
                external_ref=str(event["dedup_key"]),
            )
        return classify_http(
            response.status_code,
            _reason(response),
            response.headers.get("Retry-After"),
        )


def _reason(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return truncate(f"HTTP {response.status_code}", 200)
    if isinstance(body, dict):
        parts = [str(body.get("message", ""))] + [str(e) for e in body.get("errors", []) or []]
        return truncate(f"HTTP {response.status_code}: " + "; ".join(p for p in parts if p), 500)
    return f"HTTP {response.status_code}"
