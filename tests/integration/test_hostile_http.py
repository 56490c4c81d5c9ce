"""Issue 25 item 7, the webhook and HTTP parts: each hostile request gets a 4xx naming
what is wrong (or, for a signed PagerDuty event, a 2xx), never a 500; and nothing a
payload carries can write a line of its own into the bridge's log."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine, update

from bridge.db.models import DeliveryRow
from bridge.logsetup import formatter
from bridge.settings import Settings
from tests.integration.test_console import make as make_console
from tests.integration.test_console import sign_in
from tests.support.bridge_app import deliver_until_settled, deliveries, make_app
from tests.support.bridge_app import post_alerts as post
from tests.support.interactions import PAGERDUTY_SECRET, pd_event
from tests.support.payloads import ZERO_TIME, alert, payload

WEBHOOK = "/webhook/alertmanager"


def post_raw(app: Any, body: dict[str, Any]) -> Any:
    return app.test_client().post(WEBHOOK, data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("startsAt", "0001-01-02T00:00:00Z"),  # year 1: every delivery overflowed
        ("startsAt", "1970-01-01T00:00:00Z"),
        ("startsAt", "9999-12-31T23:59:59Z"),
        ("endsAt", "9999-12-31T23:59:59Z"),
        ("startsAt", "2026-W49-1T10:00:00Z"),  # ISO 8601 week date, not RFC 3339
        ("startsAt", "2026-12-05 10:00:00Z"),
        ("startsAt", "2026-12-05T10:00Z"),
        ("startsAt", "٢٠٢٦-12-05T10:00:00Z"),  # non-ASCII digits
        ("endsAt", "20261205T100000Z"),
    ],
)
def test_a_time_outside_the_sane_range_or_not_rfc_3339_is_a_400_naming_the_field(
    settings: Settings, engine: Engine, field: str, value: str
) -> None:
    app = make_app(settings, engine)
    hostile = alert()
    hostile[field] = value
    response = post_raw(app, payload(hostile))
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["detail"]["field"] == f"alerts[0].{field}"
    assert deliveries(engine) == []


def test_a_firing_alert_with_the_zero_end_time_and_nanoseconds_is_accepted(
    settings: Settings, engine: Engine
) -> None:
    app = make_app(settings, engine)
    answer = post(
        app, payload(alert(ends_at=ZERO_TIME, starts_at="2026-11-28T03:00:00.123456789Z"))
    )
    assert answer  # 200: Go's zero time means "no end" for a firing alert


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (4, 'must be the string "4", not a number'),
        (4.0, 'must be the string "4", not a number'),
        (True, 'must be the string "4", not a boolean'),
        (["4"], 'must be the string "4", not an array'),
        ("5", 'unsupported version "5"; expected "4"'),
    ],
)
def test_an_unsupported_version_is_told_what_is_wrong(
    settings: Settings, engine: Engine, version: Any, message: str
) -> None:
    response = post_raw(make_app(settings, engine), {**payload(alert()), "version": version})
    assert response.status_code == 400
    assert response.get_json()["detail"] == {"field": "version", "message": message}


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("generatorURL", "alerts[0].generatorURL"),
        ("externalURL", "externalURL"),
        ("groupKey", "groupKey"),
        ("receiver", "receiver"),
        ("label key", "alerts[0].labels"),
        ("annotation key", "alerts[0].annotations"),
    ],
)
def test_every_string_the_webhook_accepts_has_a_length_limit(
    settings: Settings, engine: Engine, where: str, field: str
) -> None:
    body = payload(alert())
    huge = "x" * 20_000
    if where == "generatorURL":
        body["alerts"][0]["generatorURL"] = "http://prometheus/graph?" + huge
    elif where == "label key":
        body["alerts"][0]["labels"][huge] = "v"
    elif where == "annotation key":
        body["alerts"][0]["annotations"][huge] = "v"
    else:
        body[where] = huge
    response = post_raw(make_app(settings, engine), body)
    assert response.status_code == 400
    assert response.get_json()["detail"]["field"] == field


@pytest.mark.parametrize("param", ["limit", "offset", "storm"])
@pytest.mark.parametrize("value", ["¹", "٣", "１"])
def test_alerts_with_a_non_ascii_digit_in_a_number_is_a_400(
    settings: Settings, engine: Engine, param: str, value: str
) -> None:
    response = make_app(settings, engine).test_client().get("/alerts", query_string={param: value})
    assert response.status_code == 400


def test_a_chart_answers_the_same_for_an_unknown_id_and_for_any_wrong_key(
    settings: Settings, engine: Engine
) -> None:
    app = make_app(settings, engine)
    post(app, payload(alert()))
    chart_id = deliveries(engine)[0]["id"]
    chart = {"_chart": {"delivery": chart_id, "key": "right-key", "series": [], "title": "t"}}
    with engine.begin() as conn:
        conn.execute(update(DeliveryRow).where(DeliveryRow.id == chart_id).values(context=chart))
    client = app.test_client()
    answers = {
        (client.get(f"/charts/{i}.png", query_string={"key": k}).status_code)
        for i in (chart_id, chart_id + 1000)
        for k in ("é", "wrong", "\u00ff" * 9, "")
    }
    assert answers == {404}


def test_a_signed_pagerduty_event_with_a_lone_surrogate_is_answered_2xx(
    settings: Settings, engine: Engine
) -> None:
    """PagerDuty disables a subscription that keeps failing (DOMAIN.md): a well-signed event
    is answered 2xx even when its text is odd; the text is stored with U+FFFD."""
    app = make_app(replace(settings, pagerduty_webhook_secret=PAGERDUTY_SECRET), engine)
    event = {
        "event": {
            "id": "01EVENT\ud800",
            "event_type": "incident.acknowledged",
            "occurred_at": "2026-11-28T03:05:00Z",
            "agent": {"summary": "Ada \ud800 Lovelace\x00"},
            "data": {
                "id": "PINC\udfff",
                "status": "acknowledged",
                "incident_key": "dgx-spark-bridge/fp-\ud800",
                "html_url": "https://example.pagerduty.com/incidents/P\ud800",
                "assignees": [{"summary": "Grace \udc00"}],
            },
        }
    }
    response = pd_event(app, event)
    assert 200 <= response.status_code < 300, response.get_data(as_text=True)


def test_retrying_a_delivery_id_past_the_database_range_is_not_found(
    settings: Settings, engine: Engine
) -> None:
    client = make_console(settings, engine).test_client()
    csrf = sign_in(client)
    for delivery_id in (2**63, 2**31):
        response = client.post(f"/deliveries/{delivery_id}/retry", data={"csrf": csrf})
        assert response.status_code == 404


def test_an_alert_name_with_a_newline_cannot_forge_a_log_line(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Dry-run delivery logs the alert's headline; the bridge's formatter keeps it one line."""
    forged = "X\n2026-12-05T10:00:00 ERROR bridge.web: database wiped\x1b[2K\r"
    app = make_app(settings, engine)  # no PagerDuty or Slack configured: dry-run, logged
    with caplog.at_level(logging.INFO):
        post(app, payload(alert(name=forged)))
        deliver_until_settled(app)
    lines = [formatter().format(r) for r in caplog.records if "dry-run" in r.getMessage()]
    assert lines, "dry-run deliveries are logged with the alert's headline"
    for line in lines:
        assert "\n" not in line and "\r" not in line and "\x1b" not in line
        assert "X\\x0a2026-12-05T10:00:00 ERROR" in line
