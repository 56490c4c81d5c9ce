"""A PagerDuty event belongs to one episode of an alert: fire, resolve, fire again.

The incident of the first episode keeps the same `incident_key` (the alert's dedup_key) as
the second one's. Its late or retried events are recorded and not shown; the second
incident, tied to the second episode by `incident.triggered`, shows. Through the signed
endpoints, on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from bridge.db.models import InteractionRow
from bridge.notify.pagerduty_event import dedup_key
from bridge.settings import Settings
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.signing import pagerduty_incident_event, pagerduty_note_event
from tests.fakes.slack import FakeSlack
from tests.support.bridge_app import deliver_until_settled, make_app, post_alerts
from tests.support.interactions import pd_event
from tests.support.payloads import alert, payload, resolved

FIRST_START = "2026-11-28T03:00:00Z"
SECOND_START = "2026-11-28T04:00:00Z"


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 28, hour, minute, second, tzinfo=UTC)


def shown(app: object) -> dict[str, object]:
    (row,) = app.test_client().get("/alerts").get_json()["alerts"]  # type: ignore[attr-defined]
    return row  # type: ignore[no-any-return]


def test_a_late_event_of_the_first_incident_does_not_take_over_the_second_episode(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app = make_app(interactive, engine)
    first = alert(starts_at=FIRST_START)
    key = dedup_key(first["fingerprint"])
    post_alerts(app, payload(first))
    deliver_until_settled(app)
    opened = pagerduty_incident_event(
        "incident.triggered",
        key,
        status="triggered",
        incident_id="PINC0001",
        occurred_at=at(3, 0, 5),
    )
    assert pd_event(app, opened).status_code == 200
    post_alerts(app, payload(resolved(first, ends_at="2026-11-28T03:20:00Z")))
    deliver_until_settled(app)
    post_alerts(app, payload(alert(starts_at=SECOND_START)))
    deliver_until_settled(app)
    assert len(pagerduty.triggers()) == 2
    second_message = slack.top_level()[-1]

    # PagerDuty retries the first incident's acknowledgement (made at 03:10), and someone
    # writes a note on it (tied to the first episode by its `incident.triggered`): both
    # arrive during the second episode.
    late_ack = pagerduty_incident_event(
        "incident.acknowledged",
        key,
        status="acknowledged",
        incident_id="PINC0001",
        agent="Old Responder",
        occurred_at=at(3, 10),
    )
    assert pd_event(app, late_ack).status_code == 200
    late_note = pagerduty_note_event("old news", incident_id="PINC0001", occurred_at=at(4, 2))
    assert pd_event(app, late_note).status_code == 200
    deliver_until_settled(app)
    response = shown(app)["response"]
    assert response is None or (response["acked_by"], response["pd_status"]) == (None, None)
    assert slack.replies(second_message.ts) == []

    # The second incident: triggered (which ties it to this episode), then acknowledged.
    triggered = pagerduty_incident_event(
        "incident.triggered",
        key,
        status="triggered",
        incident_id="PINC0002",
        agent=None,
        assignees=("New Responder",),
        occurred_at=at(4, 0, 5),
    )
    acked = pagerduty_incident_event(
        "incident.acknowledged",
        key,
        status="acknowledged",
        incident_id="PINC0002",
        agent="New Responder",
        occurred_at=at(4, 5),
    )
    note = pagerduty_note_event("fans replaced", incident_id="PINC0002", occurred_at=at(4, 6))
    for event in (triggered, acked, note):
        assert pd_event(app, event).status_code == 200
    deliver_until_settled(app)
    response = shown(app)["response"]
    assert response is not None
    assert response["acked_by"] == "New Responder"
    assert response["seconds_to_acknowledge"] == 5 * 60
    assert response["pd_status"] == "acknowledged"
    assert response["pd_incident_url"].endswith("/incidents/PINC0002")
    message = slack.message(second_message.ts)
    assert message is not None
    assert "PagerDuty: acknowledged · New Responder" in str(message.blocks)
    lines = [r.text or "" for r in slack.replies(second_message.ts)]
    assert any("Acknowledged in PagerDuty by New Responder" in line for line in lines)
    assert any("fans replaced" in line for line in lines)
    assert not any("Old Responder" in line or "old news" in line for line in lines)

    # The first incident's events were recorded (applied once, by id), not shown.
    first_incident = [d for d in _details(engine) if d.get("incident") == "PINC0001"]
    assert [d["shown"] for d in first_incident] == [True, False, False]


def _details(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(d) for d in conn.execute(select(InteractionRow.detail)).scalars()]
