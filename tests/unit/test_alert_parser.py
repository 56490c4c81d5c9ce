"""The webhook parser: typed alerts from valid payloads, a named field for bad ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.alerts import PayloadError, labels_fingerprint, parse_payload, parse_time
from tests.support.payloads import alert, payload


def test_valid_payload_becomes_typed_alerts() -> None:
    parsed = parse_payload(payload(alert()))
    (only,) = parsed.alerts
    assert only.name == "GPUTemperatureCritical"
    assert only.node == "dgx-spark-01"
    assert only.starts_at == datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    assert only.ends_at is None  # Go's zero time


def test_nanosecond_timestamps_and_offsets_are_understood() -> None:
    parsed = parse_time("2026-11-28T04:00:00.123456789+01:00", "t")
    assert parsed == datetime(2026, 11, 28, 3, 0, 0, 123456, tzinfo=UTC)


def test_missing_fingerprint_falls_back_to_sorted_label_hash() -> None:
    a = alert(fingerprint="")
    parsed = parse_payload(payload(a)).alerts[0]
    assert parsed.fingerprint == labels_fingerprint(a["labels"])
    reordered = dict(reversed(list(a["labels"].items())))
    assert labels_fingerprint(reordered) == parsed.fingerprint


def test_unknown_fields_from_newer_alertmanagers_are_accepted() -> None:
    body = payload(alert())
    body["notification_reason"] = "repeat"
    body["routeLabels"] = {"x": "y"}
    assert len(parse_payload(body).alerts) == 1


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("version"), "version"),
        (lambda b: b.update(version="3"), "version"),
        (lambda b: b.pop("alerts"), "alerts"),
        (lambda b: b.update(alerts={}), "alerts"),
        (lambda b: b["alerts"][0].pop("labels"), "alerts[0].labels"),
        (lambda b: b["alerts"][0].update(status="pending"), "alerts[0].status"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
    ],
)
def test_bad_payload_names_the_field(mutate: object, field: str) -> None:
    body = payload(alert())
    mutate(body)  # type: ignore[operator]
    with pytest.raises(PayloadError) as err:
        parse_payload(body)
    assert err.value.field == field


def test_payload_over_the_alert_limit_is_rejected() -> None:
    with pytest.raises(PayloadError, match="limit is 2"):
        parse_payload(payload(alert(), alert(node="b"), alert(node="c")), max_alerts=2)


def test_timestamp_that_leaves_the_calendar_in_utc_is_a_named_error() -> None:
    with pytest.raises(PayloadError) as err:
        parse_time("9999-12-31T23:00:00-05:00", "alerts[0].startsAt")
    assert err.value.field == "alerts[0].startsAt"


def test_lone_surrogate_escape_is_a_named_error_not_a_server_error() -> None:
    body = payload(alert())
    body["alerts"][0]["labels"]["node"] = "dgx\ud800"
    with pytest.raises(PayloadError) as err:
        parse_payload(body)
    assert err.value.field == "alerts[0].labels.node"
