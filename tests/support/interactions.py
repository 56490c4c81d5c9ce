"""Driving the bridge's interactivity endpoints as Slack and PagerDuty do (signed requests)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import Engine, func, select
from werkzeug.test import TestResponse

from bridge.db.models import (
    DeliveryRow,
    InteractionRow,
    OccurrenceRow,
    ResponseRow,
    WindowRow,
)
from tests.fakes.signing import SignedRequest, pagerduty_request, slack_request
from tests.fakes.slack import FakeSlack

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PAGERDUTY_SECRET = "pd-webhook-secret-ABCDEFGHIJKLMNOP"
INTERACTIONS = "/slack/interactions"
PD_WEBHOOK = "/pagerduty/webhook"


def send(app: Flask, path: str, request: SignedRequest) -> TestResponse:
    return app.test_client().post(path, data=request.body, headers=request.headers)


def click(
    app: Flask,
    slack: FakeSlack,
    ts: str,
    action_id: str,
    option: str | None = None,
    **user: str,
) -> TestResponse:
    """A signed click on an element of the message as the Slack replica shows it."""
    payload = slack.click_payload(ts, action_id, option=option, **user)
    return send(app, INTERACTIONS, slack_request(SLACK_SECRET, payload))


def pd_event(app: Flask, event: dict[str, Any], secrets: tuple[str, ...] = ()) -> TestResponse:
    return send(app, PD_WEBHOOK, pagerduty_request(secrets or (PAGERDUTY_SECRET,), event))


def state_counts(engine: Engine) -> dict[str, int]:
    """Rows an act could add: windows, occurrences, outbox rows, acts, responses."""
    with engine.connect() as conn:
        return {
            model.__tablename__: conn.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (WindowRow, OccurrenceRow, DeliveryRow, InteractionRow, ResponseRow)
        }


def windows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(WindowRow.__table__))]
