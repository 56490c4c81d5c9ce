"""Parsing Alertmanager's /api/v2/alerts and /api/v2/status answers: strict, never an
empty list where the answer was odd."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from bridge.reconcile.fetch import OddAnswer, fetch, parse_alerts, parse_started_at
from bridge.reconcile.model import AmFailure


def alert(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "annotations": {"summary": "hot"},
        "endsAt": "2026-12-05T12:04:00.000Z",
        "fingerprint": "a924c5d4c374ca88",
        "receivers": [{"name": "alert-bridge"}],
        "startsAt": "2026-12-05T11:00:00.123456789Z",
        "status": {"inhibitedBy": [], "silencedBy": ["s1"], "state": "suppressed"},
        "updatedAt": "2026-12-05T12:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "labels": {"alertname": "GPUTemperatureCritical", "node": "dgx-spark-01"},
    }
    body.update(overrides)
    return body


def test_an_alert_is_read_with_its_state_and_receivers() -> None:
    (parsed,) = parse_alerts([alert()])
    assert parsed.fingerprint == "a924c5d4c374ca88"
    assert parsed.state == "suppressed" and parsed.silenced_by == ("s1",)
    assert parsed.receivers == ("alert-bridge",)
    assert parsed.starts_at == datetime(2026, 12, 5, 11, 0, 0, 123456, tzinfo=UTC)
    assert parsed.place == "GPUTemperatureCritical on dgx-spark-01"


def test_newer_fields_are_accepted() -> None:
    status = {"inhibitedBy": [], "silencedBy": [], "mutedBy": [], "state": "active"}
    (parsed,) = parse_alerts([alert(status=status, routeLabels={"a": "b"})])
    assert parsed.state == "active"


@pytest.mark.parametrize(
    "body",
    [
        {"alerts": []},
        [alert(status={"state": "resolved"})],
        [alert(fingerprint="")],
        [alert(receivers=None)],
        [alert(labels={"a": 1})],
        [alert(startsAt="yesterday")],
        [alert(status={"state": "active", "silencedBy": "s1"})],
        ["not an object"],
    ],
    ids=["object", "state", "fingerprint", "receivers", "labels", "time", "silencedBy", "item"],
)
def test_an_odd_answer_is_refused(body: Any) -> None:
    with pytest.raises(OddAnswer):
        parse_alerts(body)


def test_uptime_is_alertmanagers_start_time() -> None:
    started = parse_started_at({"uptime": "2026-12-05T11:58:00.5Z", "cluster": {}})
    assert started == datetime(2026, 12, 5, 11, 58, 0, 500000, tzinfo=UTC)
    with pytest.raises(OddAnswer):
        parse_started_at({"cluster": {}})


def test_an_unreachable_alertmanager_is_a_failure_named_without_its_password() -> None:
    with socket.socket() as sock:  # a port nobody listens on: refused at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    failure = fetch(requests.Session(), f"http://ops:s3cret@127.0.0.1:{port}")
    assert isinstance(failure, AmFailure)
    assert "s3cret" not in failure.url + failure.detail
    assert failure.detail == "unreachable: ConnectionError"
