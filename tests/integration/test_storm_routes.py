"""A storm pages on every channel any of its folded alerts was routed to (issue 22, finding 1).

Storms are per alert name, and severities of one name route differently (by default a
`warning` to Slack, a `critical` to PagerDuty and Slack): a `critical` that folds into a
storm opened by warnings must still page. On both databases, through the webhook, the
delivery worker, the end-of-storm job and the PagerDuty and Slack replicas, and once
through a real `alert-bridge serve` with its default settings.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bridge.jobs import end_quiet_storms, release_held_alerts
from bridge.settings import Settings
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.integration.test_serve_process import live_env
from tests.integration.test_serve_process import send as send_to
from tests.integration.test_storm_folding import (
    T0,
    THRESHOLD,
    WINDOW,
    _window_over_the_storm,
    deliver_due,
    listed,
    make,
    send,
    storm_messages,
    storm_triggers,
)
from tests.support.bridge_app import ctx
from tests.support.bridge_proc import start_bridge
from tests.support.clock import Clock
from tests.support.payloads import alert, payload, resolved
from tests.support.procs import wait_until

NAME = "NodeFilesystemAlmostOutOfSpace"
# Enough warnings to open a storm and fold a few into it (issue 22 used fourteen).
WARNINGS = THRESHOLD + 4


def disk_alert(i: int, severity: str = "warning", fingerprint: str | None = None) -> dict[str, Any]:
    return alert(
        NAME,
        node=f"dgx-spark-{i:02}",
        gpu=None,
        severity=severity,
        fingerprint=fingerprint or f"{NAME}-{severity}-{i:02}",
        annotations={"summary": f"/ on dgx-spark-{i:02} is almost full", "value": "4 %"},
    )


def warnings(count: int = WARNINGS) -> list[dict[str, Any]]:
    return [disk_alert(i) for i in range(count)]


def test_a_critical_that_joins_a_slack_only_storm_pages(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    assert send(app, warnings())["folded"] == WARNINGS - THRESHOLD
    deliver_due(app)
    assert pagerduty.triggers() == []  # warnings go to Slack only
    assert len(storm_messages(slack)) == 1

    clock.advance(seconds=5)
    answer = send(app, [disk_alert(WARNINGS, severity="critical")])
    deliver_due(app)

    assert answer["folded"] == 1  # still one storm for the name...
    [page] = storm_triggers(pagerduty)  # ...which now pages
    assert page["payload"]["severity"] == "critical"
    assert page["payload"]["class"] == NAME
    assert page["payload"]["custom_details"]["folded alerts"] == WARNINGS - THRESHOLD + 1
    [critical] = [a for a in listed(app) if a["severity"] == "critical"]
    assert critical["storm"] is not None
    assert len(storm_messages(slack)) == 1  # the storm's one Slack message stays one


def test_a_critical_folded_after_warnings_in_the_same_post_pages(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    app = make(live_settings, engine, Clock(T0))
    # Alerts of a post are recorded in fingerprint order: the critical folds last.
    critical = disk_alert(WARNINGS, severity="critical", fingerprint=f"{NAME}-zz")

    answer = send(app, [*warnings(), critical])
    deliver_due(app)

    assert answer["folded"] == WARNINGS - THRESHOLD + 1
    [page] = storm_triggers(pagerduty)
    assert page["payload"]["severity"] == "critical"


def test_the_storm_that_paged_for_a_critical_resolves_its_incident_when_it_ends(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    firing = [*warnings(), disk_alert(WARNINGS, severity="critical")]
    send(app, firing[:-1])
    send(app, firing[-1:])
    deliver_due(app)
    [key] = {e["dedup_key"] for e in storm_triggers(pagerduty)}

    clock.advance(minutes=2)
    send(app, [resolved(a) for a in firing])
    clock.now = T0 + WINDOW + timedelta(minutes=1)
    assert end_quiet_storms(ctx(app)) == 1
    deliver_due(app)

    incident = pagerduty.incident(key)
    assert incident is not None and not incident.is_open
    [message] = storm_messages(slack)
    assert "Storm over" in (slack.replies(message.ts)[-1].text or "")


def test_warnings_alone_never_page_even_in_a_storm(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    send(app, warnings())
    clock.advance(seconds=5)
    send(app, [disk_alert(i) for i in range(WARNINGS, WARNINGS + 5)])
    clock.advance(minutes=2)
    deliver_due(app)

    assert pagerduty.requests == []
    assert len(storm_messages(slack)) == 1


def test_a_critical_held_by_a_window_with_warnings_pages_when_the_storm_comes_out(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    app, clock = _window_over_the_storm(live_settings, engine, minutes=30, name=NAME)
    send(app, warnings())
    send(app, [disk_alert(WARNINGS, severity="critical")])  # held last, folds last
    clock.advance(minutes=31)

    assert release_held_alerts(ctx(app)) == WARNINGS + 1
    deliver_due(app)

    [page] = storm_triggers(pagerduty)
    assert page["payload"]["severity"] == "critical"


@pytest.mark.slow
def test_serve_pages_a_critical_that_follows_fourteen_warnings_of_its_name(
    tmp_path: Path,
    db_url: str,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    test_ca: TestCA,
) -> None:
    # `alert-bridge serve` as deployed: storm folding on (the default), one request per
    # alert as Alertmanager grouping by node sends them.
    with start_bridge(tmp_path, live_env(tmp_path, db_url, pagerduty, slack, test_ca)) as bridge:

        def post(one: dict[str, Any]) -> int:
            answer = send_to(bridge.url, payload(one))
            assert answer.status_code == 200, answer.text
            return int(answer.json()["folded"])

        assert sum(post(disk_alert(i)) for i in range(14)) == 14 - THRESHOLD  # storm open
        wait_until(lambda: storm_messages(slack) or None, timeout=20, what="the storm message")
        assert pagerduty.triggers() == []  # on Slack only

        assert post(disk_alert(14, severity="critical")) == 1
        pages = wait_until(
            lambda: storm_triggers(pagerduty) or None, timeout=20, what="the critical's page"
        )
    assert pages[0]["payload"]["severity"] == "critical"
    assert pages[0]["payload"]["class"] == NAME
