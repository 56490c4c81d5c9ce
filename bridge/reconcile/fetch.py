"""Read one Alertmanager's `GET /api/v2/alerts` and `GET /api/v2/status`.

Only the configured BRIDGE_ALERTMANAGER_URLs are contacted, each call with a timeout.
Parsing is pure and strict: anything but the documented shape is an odd answer, and a
round with an odd answer concludes nothing (an empty list from a broken proxy must never
read as "every alert resolved").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from bridge.alerts import PayloadError, parse_time
from bridge.reconcile.model import AM_STATES, AmAlert, AmAnswer, AmFailure
from bridge.settings import redact_url

# Seconds per call. A round waits for every Alertmanager; one that is slower than this
# makes the round inconclusive, never a source of resolves.
TIMEOUT_SECONDS = 5.0
# Silenced, inhibited and unprocessed alerts included (the API's defaults, said explicitly).
ALERTS_QUERY = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}
# Enough to show in logs and the console, never a whole body.
DETAIL_CHARS = 200


class OddAnswer(ValueError):
    """The answer does not have the documented shape."""


def _strings(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise OddAnswer(f"{where} is not an object of strings")
    return dict(value)


def _time(value: Any, where: str) -> datetime | None:
    try:
        return parse_time(value, where)
    except PayloadError as exc:
        raise OddAnswer(str(exc)) from None


def _ids(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise OddAnswer(f"{where} is not a list of strings")
    return tuple(value)


def parse_alert(obj: Any, index: int) -> AmAlert:
    where = f"alerts[{index}]"
    if not isinstance(obj, dict):
        raise OddAnswer(f"{where} is not an object")
    fingerprint = obj.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise OddAnswer(f"{where}.fingerprint is missing")
    status = obj.get("status")
    if not isinstance(status, dict) or status.get("state") not in AM_STATES:
        raise OddAnswer(f"{where}.status.state is not one of {', '.join(AM_STATES)}")
    starts_at = _time(obj.get("startsAt"), f"{where}.startsAt")
    if starts_at is None:
        raise OddAnswer(f"{where}.startsAt is the zero time")
    receivers = obj.get("receivers")
    if not isinstance(receivers, list) or not all(
        isinstance(r, dict) and isinstance(r.get("name"), str) for r in receivers
    ):
        raise OddAnswer(f"{where}.receivers is not a list of {{name}}")
    generator = obj.get("generatorURL", "")
    return AmAlert(
        fingerprint=fingerprint,
        labels=_strings(obj.get("labels"), f"{where}.labels"),
        annotations=_strings(obj.get("annotations") or {}, f"{where}.annotations"),
        starts_at=starts_at,
        ends_at=_time(obj["endsAt"], f"{where}.endsAt") if obj.get("endsAt") else None,
        generator_url=generator if isinstance(generator, str) else "",
        state=status["state"],
        silenced_by=_ids(status.get("silencedBy"), f"{where}.status.silencedBy"),
        inhibited_by=_ids(status.get("inhibitedBy"), f"{where}.status.inhibitedBy"),
        receivers=tuple(r["name"] for r in receivers),
    )


def parse_alerts(body: Any) -> tuple[AmAlert, ...]:
    if not isinstance(body, list):
        raise OddAnswer("alerts: not a JSON array")
    return tuple(parse_alert(obj, i) for i, obj in enumerate(body))


def parse_started_at(body: Any) -> datetime:
    """When the Alertmanager started (`uptime` in /api/v2/status is a start time)."""
    if not isinstance(body, dict):
        raise OddAnswer("status: not a JSON object")
    started = _time(body.get("uptime"), "status.uptime")
    if started is None:
        raise OddAnswer("status.uptime is the zero time")
    return started


def _get_json(session: requests.Session, url: str, **params: Any) -> Any:
    try:
        response = session.get(url, params=params or None, timeout=TIMEOUT_SECONDS)
    except requests.Timeout:
        raise OddAnswer(f"timed out after {TIMEOUT_SECONDS:g}s") from None
    except requests.RequestException as exc:
        raise OddAnswer(f"unreachable: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise OddAnswer(f"HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise OddAnswer("answered with something that is not JSON") from None


def fetch(session: requests.Session, base_url: str) -> AmAnswer | AmFailure:
    """One Alertmanager's view: its start time, then its alerts (status first, so that an
    Alertmanager restarting between the two calls shows up as young, never as empty).
    The URL it is named by has any password hidden: it is logged and shown."""
    try:
        started_at = parse_started_at(_get_json(session, f"{base_url}/api/v2/status"))
        alerts = parse_alerts(_get_json(session, f"{base_url}/api/v2/alerts", **ALERTS_QUERY))
        # A restart between the calls: the alerts may come from the new, empty instance.
        if parse_started_at(_get_json(session, f"{base_url}/api/v2/status")) != started_at:
            raise OddAnswer("restarted during the round")
    except OddAnswer as exc:
        return AmFailure(redact_url(base_url), str(exc)[:DETAIL_CHARS])
    return AmAnswer(redact_url(base_url), started_at, alerts)
