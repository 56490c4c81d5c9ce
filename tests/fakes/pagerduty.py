"""A replica of the PagerDuty Events API v2 (``POST /v2/enqueue``) for tests.

It enforces the documented event contract (the checks real PagerDuty answers with
``400 invalid event``), models alerts per (routing_key, dedup_key) the way PagerDuty
deduplicates them, can rate limit like the real per-routing-key limit, and injects faults.

Contract: https://developer.pagerduty.com/docs/send-alert-event and
https://developer.pagerduty.com/api-reference/368ae3d938c9e-send-an-event-to-pager-duty
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.base import (
    DEFAULT_HANG_S,
    DEFAULT_WAIT_S,
    FakeService,
    Fault,
    RecordedRequest,
    json_response,
    monotonic_and_wall,
    run_standalone,
    sliding_window_full,
)
from tests.fakes.tls import TestCA

ROUTING_KEY_CHARS = 32
MAX_DEDUP_KEY_CHARS = 255
MAX_SUMMARY_CHARS = 1024
MAX_EVENT_BYTES = 512 * 1024
EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
RATE_LIMIT_PERIOD_S = 60.0
# "About 120 events per minute per routing key" (DOMAIN.md; PagerDuty's Events API v2 docs).
EVENTS_PER_MINUTE_PER_KEY = 120

ENQUEUE_PATH = "/v2/enqueue"
SCOPE = "enqueue"
# Faults aimed at the events of one dedup_key prefix (fail_events) queue under this scope.
DEDUP_SCOPE = "dedup_key:"


def invalid_event(errors: list[str], message: str = "Event object is invalid") -> Response:
    return json_response(
        {"status": "invalid event", "message": message, "errors": errors}, status=400
    )


# -- validation (pure) -------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def validate_routing_key(key: Any) -> list[str]:
    if _blank(key):
        return ["'routing_key' is missing or blank"]
    errors = []
    if len(key) != ROUTING_KEY_CHARS:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    if not key.isalnum():
        errors.append("'routing_key' cannot contain non-alphanumeric characters.")
    return errors


def _validate_payload(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or is not an object"]
    errors = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or _blank(summary):
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > MAX_SUMMARY_CHARS:
        errors.append("Length of 'payload.summary' is too long (must be at most 1024 characters)")
    if _blank(payload.get("source")):
        errors.append("'payload.source' is missing or blank")
    severity = payload.get("severity")
    if _blank(severity):
        errors.append("'payload.severity' is missing or blank")
    elif severity not in SEVERITIES:
        errors.append(
            "'payload.severity' is invalid (must be one of the following: "
            "'critical', 'warning', 'error' or 'info')"
        )
    if "timestamp" in payload:
        timestamp = payload["timestamp"]
        try:
            datetime.fromisoformat(timestamp)
        except (TypeError, ValueError):
            errors.append("'payload.timestamp' is invalid (must be an ISO 8601 date-time)")
    for name in ("component", "group", "class"):
        if name in payload and not isinstance(payload[name], str):
            errors.append(f"'payload.{name}' must be a string")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        errors.append("'payload.custom_details' must be an object")
    return errors


def _validate_list(
    event: dict[str, Any], name: str, required: str, optional: Iterable[str]
) -> list[str]:
    items = event.get(name)
    if items is None:
        return []
    if not isinstance(items, list):
        return [f"'{name}' must be an array"]
    errors = []
    for i, item in enumerate(items):
        where = f"'{name}[{i}]"
        if not isinstance(item, dict):
            errors.append(f"{where}' must be an object")
            continue
        if _blank(item.get(required)):
            errors.append(f"{where}.{required}' is missing or blank")
        for key in optional:
            if key in item and not isinstance(item[key], str):
                errors.append(f"{where}.{key}' must be a string")
    return errors


def validate_event(event: Any) -> list[str]:
    """Every contract violation in an event body (empty list: valid)."""
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors = validate_routing_key(event.get("routing_key"))
    action = event.get("event_action")
    if _blank(action):
        errors.append("'event_action' is missing or blank")
    elif action not in EVENT_ACTIONS:
        errors.append(
            "'event_action' is invalid (must be one of: 'trigger', 'acknowledge', 'resolve')"
        )
    if "dedup_key" in event:
        dedup_key = event["dedup_key"]
        if not isinstance(dedup_key, str):
            errors.append("'dedup_key' must be a string")
        elif len(dedup_key) > MAX_DEDUP_KEY_CHARS:
            errors.append("Length of 'dedup_key' is too long (must be at most 255 characters)")
    if action in ("acknowledge", "resolve") and _blank(event.get("dedup_key")):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        errors += _validate_payload(event.get("payload"))
        errors += _validate_list(event, "images", "src", ("href", "alt"))
        errors += _validate_list(event, "links", "href", ("text",))
        for i, image in enumerate(event.get("images") or []):
            src = image.get("src") if isinstance(image, dict) else None
            if isinstance(src, str) and src.strip() and not src.startswith("https://"):
                errors.append(f"'images[{i}].src' must be an https URL")
        for name in ("client", "client_url"):
            if name in event and not isinstance(event[name], str):
                errors.append(f"'{name}' must be a string")
    return errors


# -- alert model -------------------------------------------------------------------------


@dataclass
class Incident:
    """One PagerDuty alert: opened by a trigger, closed by a resolve."""

    routing_key: str
    dedup_key: str
    opened_at: float  # monotonic
    status: str = "triggered"  # triggered | acknowledged | resolved
    events: list[dict[str, Any]] = field(default_factory=list)  # every event applied, in order
    resolved_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"

    @property
    def trigger_count(self) -> int:
        return sum(1 for e in self.events if e["event_action"] == "trigger")

    @property
    def summary(self) -> str:
        """Summary of the latest trigger (PagerDuty shows the newest one)."""
        triggers = [e for e in self.events if e["event_action"] == "trigger"]
        return str(triggers[-1]["payload"]["summary"])


def _default_fault_body(status: int) -> dict[str, str]:
    if status == 429:
        return {
            "status": "throttle event",
            "message": "Requests for this service are arriving too quickly. Please retry later.",
        }
    if status >= 500:
        return {"status": "error", "message": "Internal error (injected by the fake)"}
    return {"status": "error", "message": f"HTTP {status} (injected by the fake)"}


class FakePagerDuty(FakeService):
    """HTTPS replica of the Events API v2. Use as a context manager or start()/stop().

    ``routing_keys``: the integration keys that exist; None accepts any well-formed key.
    ``rate_limit_per_minute``: accepted events per routing key per 60 s, 429 without
    ``Retry-After`` beyond. On by default at the documented limit, like the real service;
    a test that must exceed it passes None and says why.
    """

    def __init__(
        self,
        ca: TestCA,
        routing_keys: Collection[str] | None = None,
        rate_limit_per_minute: int | None = EVENTS_PER_MINUTE_PER_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(ca, host, port)
        self.routing_keys = set(routing_keys) if routing_keys is not None else None
        self.rate_limit_per_minute = rate_limit_per_minute
        #: Accepted events in arrival order: the body as sent, plus ``received_at``
        #: (monotonic) and ``received_wall`` (epoch seconds).
        self.events: list[dict[str, Any]] = []
        #: Every request, rejected and faulted ones included.
        self.requests: list[RecordedRequest] = []
        #: dedup_key -> every alert it has had, oldest first (a trigger after a resolve
        #: opens a new one).
        self.incidents: dict[str, list[Incident]] = {}
        #: Accepted events that changed nothing (a resolve or acknowledge with no open alert).
        self.dropped: list[dict[str, Any]] = []
        self._accepted_times: dict[str, deque[float]] = {}

    # -- queries -------------------------------------------------------------------------

    def _by_action(self, action: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events if e["event_action"] == action]

    def triggers(self) -> list[dict[str, Any]]:
        return self._by_action("trigger")

    def acknowledges(self) -> list[dict[str, Any]]:
        return self._by_action("acknowledge")

    def resolves(self) -> list[dict[str, Any]]:
        return self._by_action("resolve")

    def open_incidents(self) -> list[Incident]:
        with self._cond:
            return [i for history in self.incidents.values() for i in history if i.is_open]

    def incident(self, dedup_key: str) -> Incident | None:
        """The latest alert for ``dedup_key``, open or not."""
        with self._cond:
            history = self.incidents.get(dedup_key)
            return history[-1] if history else None

    def wait_for_events(self, n: int, timeout: float = DEFAULT_WAIT_S) -> list[dict[str, Any]]:
        """Block until at least ``n`` events were accepted; return them all."""
        self.wait_for(lambda: len(self.events) >= n, timeout, what=f"{n} accepted events")
        with self._cond:
            return list(self.events)

    def _describe(self) -> str:
        return (
            f"{len(self.events)} events accepted, {len(self.requests)} requests, "
            f"last statuses {[r.status for r in self.requests[-5:]]}"
        )

    # -- faults --------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next ``times`` enqueue requests with ``status`` (e.g. 500, 502, 503,
        429) instead of processing them; ``retry_after`` adds a ``Retry-After`` header."""
        fault = Fault("status", status=int(status), retry_after=retry_after, body=body)
        self._queue_fault(SCOPE, fault, times)

    def fail_events(self, dedup_prefix: str, status: int = 503, times: int = 1) -> None:
        """Answer the next ``times`` valid events whose ``dedup_key`` starts with
        ``dedup_prefix`` (a storm's own events, say) with ``status``; others pass."""
        fault = Fault("status", status=int(status), retry_after=None, body=None)
        self._queue_fault(DEDUP_SCOPE + dedup_prefix, fault, times)

    def _take_event_fault(self, dedup_key: str) -> Fault | None:
        with self._cond:
            aimed = [
                scope
                for scope in self._faults
                if scope.startswith(DEDUP_SCOPE)
                and dedup_key.startswith(scope.removeprefix(DEDUP_SCOPE))
            ]
            return self._take_first_fault(aimed)

    def hang_next(self, times: int = 1, seconds: float = DEFAULT_HANG_S) -> None:
        """Hold the next requests unanswered for ``seconds`` (or until stop()), then cut."""
        self._queue_fault(SCOPE, Fault("hang", hang_s=seconds), times)

    def drop_connection_next(self, times: int = 1) -> None:
        """Close the connection of the next requests without sending any response."""
        self._queue_fault(SCOPE, Fault("drop"), times)

    def reset(self) -> None:
        super().reset()
        with self._cond:
            self.events.clear()
            self.requests.clear()
            self.incidents.clear()
            self.dropped.clear()
            self._accepted_times.clear()
            self._changed()

    # -- serving -------------------------------------------------------------------------

    def _views(self) -> dict[str, Callable[[], Any]]:
        def requests() -> list[dict[str, Any]]:
            return [
                {
                    "method": r.method,
                    "path": r.path,
                    "status": r.status,
                    "fault": r.fault,
                    "received_at": r.received_at,
                    "received_wall": r.received_wall,
                    "body": r.body.decode("utf-8", "replace"),
                    "response": r.response,
                }
                for r in self.requests
            ]

        return {
            "events": lambda: self.events,
            "requests": requests,
            "incidents": lambda: self.incidents,
            "dropped": lambda: self.dropped,
        }

    def _serve(self, request: Request) -> Response:
        received_at, received_wall = monotonic_and_wall()
        body = request.get_data()
        record = RecordedRequest(
            request.method, request.path, dict(request.headers), body, received_at, received_wall
        )
        with self._cond:
            self.requests.append(record)
            self._changed()
        response = self._answer(request, body, record)
        with self._cond:
            record.status = response.status_code
            record.response = response.get_json(silent=True) or response.get_data(as_text=True)
            self._changed()
        return response

    def _answer(self, request: Request, body: bytes, record: RecordedRequest) -> Response:
        if request.path != ENQUEUE_PATH:
            return json_response({"status": "not found", "message": "Not Found"}, status=404)
        if request.method != "POST":
            return json_response({"status": "error", "message": "Method Not Allowed"}, 405)
        self._delay()
        fault = self._take_fault(SCOPE)
        if fault is not None:
            with self._cond:
                record.fault = fault.kind
                self._changed()
            if fault.kind != "status":
                self._misbehave(fault, request)
            return self._fault_response(fault)
        if len(body) > MAX_EVENT_BYTES:
            return invalid_event(["Event object is too large (must be at most 524288 bytes)"])
        try:
            event = json.loads(body)
        except ValueError:
            return invalid_event(["Event object is not valid JSON"])
        errors = validate_event(event)
        if errors:
            return invalid_event(errors)
        routing_key = event["routing_key"]
        if self.routing_keys is not None and routing_key not in self.routing_keys:
            return invalid_event(["Invalid routing key"], message="Invalid routing key")
        event_fault = self._take_event_fault(str(event.get("dedup_key") or ""))
        if event_fault is not None:
            with self._cond:
                record.fault = event_fault.kind
                self._changed()
            return self._fault_response(event_fault)
        return self._accept(event, record.received_at, record.received_wall)

    def _fault_response(self, fault: Fault) -> Response:
        assert fault.status is not None
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = _default_fault_body(fault.status) if fault.body is None else fault.body
        if isinstance(body, str):
            return Response(body, status=fault.status, headers=headers, content_type="text/plain")
        return json_response(body, status=fault.status, headers=headers)

    def _accept(self, event: dict[str, Any], received_at: float, wall: float) -> Response:
        routing_key: str = event["routing_key"]
        with self._cond:
            if self.rate_limit_per_minute is not None:
                window = self._accepted_times.setdefault(routing_key, deque())
                wait = sliding_window_full(
                    window, received_at, self.rate_limit_per_minute, RATE_LIMIT_PERIOD_S
                )
                if wait is not None:
                    # No Retry-After: the real API does not promise one for its limit.
                    return json_response(_default_fault_body(429), status=429)
                window.append(received_at)
            dedup_key = event.get("dedup_key") or uuid.uuid4().hex
            recorded = {**event, "received_at": received_at, "received_wall": wall}
            self.events.append(recorded)
            self._apply(routing_key, dedup_key, recorded)
            self._changed()
        return json_response(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key},
            status=202,
        )

    def _apply(self, routing_key: str, dedup_key: str, event: dict[str, Any]) -> None:
        """PagerDuty's alert dedup: same (routing_key, dedup_key) -> same open alert."""
        history = self.incidents.setdefault(dedup_key, [])
        current = next(
            (i for i in reversed(history) if i.routing_key == routing_key and i.is_open), None
        )
        action = event["event_action"]
        if action == "trigger":
            if current is None:
                current = Incident(routing_key, dedup_key, opened_at=event["received_at"])
                history.append(current)
            current.events.append(event)
            return
        if current is None:
            # Accepted with 202 by the real API too; it just has nothing to act on.
            self.dropped.append(event)
            if not history:
                del self.incidents[dedup_key]
            return
        current.events.append(event)
        if action == "acknowledge":
            current.status = "acknowledged"
        else:
            current.status = "resolved"
            current.resolved_at = event["received_at"]


def main(argv: list[str] | None = None) -> int:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--routing-key", action="append", help="accepted key (repeatable; default: any)"
        )
        parser.add_argument(
            "--rate-limit-per-minute",
            type=int,
            default=EVENTS_PER_MINUTE_PER_KEY,
            help="events per routing key per minute (0: no limit)",
        )

    def build(ca: TestCA, args: argparse.Namespace) -> FakePagerDuty:
        return FakePagerDuty(
            ca,
            routing_keys=args.routing_key,
            rate_limit_per_minute=args.rate_limit_per_minute or None,
            host=args.host,
            port=args.port,
        )

    return run_standalone(argv, "PagerDuty Events API v2 replica", build, add_arguments)


__all__ = ["FakePagerDuty", "Incident", "validate_event"]

if __name__ == "__main__":
    sys.exit(main())
