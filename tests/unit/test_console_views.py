"""The console's view models: pure functions from store rows to what a page shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.console.alert_page import safe_href
from bridge.console.deliveries import read_filter
from bridge.console.overview import (
    Probe,
    build_cards,
    build_health,
    delivery_summary,
    headline,
    lines_per_card,
    shown_alerts,
)
from bridge.console.timefmt import age, local, stamp
from bridge.console.windows import FormError, form_field, matchers_text, window_body
from bridge.store.read_model import DeliveryFilter, FiringAlert, NodeSeen, TriggerOutcome

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def firing(
    alert_id: int,
    node: str,
    severity: str = "critical",
    name: str = "GPUTemperatureCritical",
    minutes_ago: int = 10,
    **flags: Any,
) -> FiringAlert:
    return FiringAlert(
        id=alert_id,
        fingerprint=f"fp{alert_id}",
        alertname=name,
        severity=severity,
        node=node,
        annotations={"value": "87 °C", "threshold": "85 °C"},
        labels={"alertname": name, "node": node, "gpu": "0"},
        starts_at=NOW - timedelta(minutes=minutes_ago),
        suppressed=flags.get("suppressed", False),
        flapping=flags.get("flapping", False),
    )


# --- times ----------------------------------------------------------------------------------

AGES = [
    (timedelta(seconds=20), "just now"),
    (timedelta(minutes=4, seconds=59), "4 min ago"),
    (timedelta(hours=3, minutes=12), "3 h 12 min ago"),
    (timedelta(hours=12, minutes=12), "12 h ago"),
    (timedelta(days=3, hours=1), "3 d ago"),
    (-timedelta(minutes=20), "in 20 min"),
]


@pytest.mark.parametrize(("ago", "text"), AGES)
def test_age_reads_as_a_person_says_it(ago: timedelta, text: str) -> None:
    assert age(NOW - ago, NOW) == text


def test_local_time_is_in_the_bridge_time_zone_with_the_day_when_not_today() -> None:
    assert local(NOW - timedelta(minutes=18), BERLIN, NOW) == "10:12"
    assert local(NOW - timedelta(days=1), BERLIN, NOW) == "Thu 3 Dec 10:30"
    assert stamp(None, BERLIN, NOW) == "—"
    assert stamp(NOW - timedelta(minutes=5), UTC_ZONE, NOW) == "09:25 (5 min ago)"


# --- overview -------------------------------------------------------------------------------


def test_cards_put_the_worst_node_first_then_quiet_nodes_with_since_when() -> None:
    alerts = [
        firing(1, "spark-02", "warning"),
        firing(2, "spark-01", "critical"),
        firing(3, "spark-03", "warning"),
        firing(4, "spark-03", "warning", name="HighCPUUsage"),
    ]
    seen = [
        NodeSeen("spark-01", NOW, 1),
        NodeSeen("spark-04", NOW.replace(hour=9, minute=12), 0),
    ]
    cards = build_cards(alerts, seen, [], NOW, UTC_ZONE)
    assert [(c.node, c.worst) for c in cards] == [
        ("spark-01", "critical"),
        ("spark-03", "warning"),  # two warnings before one
        ("spark-02", "warning"),
        ("spark-04", "ok"),
    ]
    assert cards[-1].quiet == "All quiet since 09:12" and cards[-1].lines == ()


def test_a_card_lists_the_worst_alerts_and_counts_the_rest() -> None:
    alerts = [firing(i, "spark-01", "warning", minutes_ago=i) for i in range(1, 8)]
    alerts.append(firing(99, "spark-01", "critical", minutes_ago=60))
    (card,) = build_cards(alerts, [], [], NOW, UTC_ZONE, per_card=3)
    assert [line.fingerprint for line in card.lines] == ["fp99", "fp1", "fp2"]
    assert card.more == 5
    assert [(c.severity, c.count) for c in card.counts] == [("critical", 1), ("warning", 7)]
    assert card.lines[0].fact == "87 °C (threshold 85 °C)" and card.lines[0].where == "GPU 0"
    assert len(shown_alerts(alerts, per_card=3)) == 3


@pytest.mark.parametrize(
    ("busy_nodes", "lines"),
    [(0, 5), (1, 5), (2, 5), (30, 5), (31, 4), (50, 3), (75, 2), (76, 1), (300, 1), (5000, 1)],
)
def test_cards_list_fewer_alerts_each_as_more_nodes_fire_but_never_none(
    busy_nodes: int, lines: int
) -> None:
    alerts = [firing(i * 10 + k, f"spark-{i:04d}") for i in range(busy_nodes) for k in range(6)]
    assert lines_per_card(alerts) == lines
    assert lines_per_card(alerts, one_node=True) == 500  # a node's own page lists them all
    cards = build_cards(alerts, [], [], NOW, UTC_ZONE, per_card=lines_per_card(alerts))
    assert all(len(c.lines) == lines and c.more == 6 - lines for c in cards)
    assert sum(len(c.lines) for c in cards) <= max(150, busy_nodes)


def test_an_alert_without_a_node_gets_a_card_that_says_so() -> None:
    (card,) = build_cards([firing(1, "")], [NodeSeen("", NOW, 1)], [], NOW, UTC_ZONE)
    assert card.title == "No node label"


SUMMARIES = [
    ([("pagerduty", "delivered"), ("slack", "delivered")], {}, "paged · in Slack", "ok"),
    ([("slack", "pending"), ("pagerduty", "dead")], {}, "page failed · Slack queued", "dead"),
    ([("slack", "in_flight")], {}, "posting to Slack…", "pending"),
    ([("pagerduty", "dry_run")], {}, "page dry-run", "ok"),
    ([], {"suppressed": True}, "held by a maintenance window", "muted"),
    ([], {"flapping": True}, "flapping: notifications paused", "muted"),
    ([], {}, "recorded only (no route)", "none"),
]


@pytest.mark.parametrize(("outcomes", "flags", "text", "state"), SUMMARIES)
def test_delivery_summary_says_whether_the_page_went_out(
    outcomes: list[tuple[str, str]], flags: dict[str, bool], text: str, state: str
) -> None:
    alert = firing(1, "spark-01", **flags)
    given = [TriggerOutcome(1, channel, status, "") for channel, status in outcomes]
    assert delivery_summary(alert, given) == (text, state)


def test_enrichment_key_fact_is_shown_when_the_alert_carries_no_value() -> None:
    alert = firing(1, "spark-01")
    plain = FiringAlert(**{**alert.__dict__, "annotations": {"summary": "GPU hot"}})
    outcome = TriggerOutcome(1, "slack", "delivered", "91 °C, throttling")
    (card,) = build_cards([plain], [], [outcome], NOW, UTC_ZONE)
    assert card.lines[0].fact == "91 °C, throttling"


HEADLINES = [
    ([firing(1, "a")], [], "1 alert firing on 1 node"),
    ([firing(1, "a"), firing(2, "b")], [], "2 alerts firing on 2 nodes"),
    ([], [NodeSeen("a", NOW.replace(hour=9, minute=12), 0)], "All quiet since 09:12"),
    ([], [], "No alerts received yet (bridge up since 08:00)"),
]


@pytest.mark.parametrize(("alerts", "seen", "text"), HEADLINES)
def test_headline_says_what_fires_or_since_when_nothing_has(
    alerts: list[FiringAlert], seen: list[NodeSeen], text: str
) -> None:
    assert headline(alerts, seen, NOW, UTC_ZONE, NOW.replace(hour=8, minute=0)) == text


def test_headline_of_one_node_never_seen_says_so() -> None:
    assert headline([], [], NOW, UTC_ZONE, NOW, node="spark-09") == (
        "No alert recorded for this node"
    )


def test_health_flags_dead_letters_a_late_watchdog_and_unreachable_services() -> None:
    probes = [
        Probe("Prometheus", "http://p", True, "ready"),
        Probe("Alertmanager", "http://a", False, "unreachable (ConnectionError)"),
    ]
    items = build_health(
        True,
        probes,
        {"pending": 2, "in_flight": 1, "dead": 3},
        NOW - timedelta(minutes=6),
        NOW,
        UTC_ZONE,
        timedelta(minutes=5),
    )
    assert [(i.name, i.state, i.text) for i in items] == [
        ("Database", "ok", "reachable"),
        ("Delivery", "ok", "running"),
        ("Prometheus", "ok", "ready"),
        ("Alertmanager", "bad", "unreachable (ConnectionError)"),
        ("Outbox", "ok", "3 waiting"),
        ("Dead letters", "bad", "3 to look at"),
        ("Watchdog", "bad", "last seen 09:24 (6 min ago)"),
    ]
    fresh = build_health(False, [], {}, NOW, NOW, UTC_ZONE, timedelta(minutes=5))
    assert fresh[0].state == "bad" and fresh[-1].state == "ok"
    assert build_health(True, [], {}, None, NOW, UTC_ZONE, timedelta(minutes=5))[-1].text == (
        "never seen"
    )
    down = "delivery process killed by SIGKILL; restarting in 1s"
    (_, delivery, *_) = build_health(
        True, [], {}, NOW, NOW, UTC_ZONE, timedelta(minutes=5), delivery_down=down
    )
    assert (delivery.state, delivery.text) == ("bad", f"stopped: {down}")


# --- windows --------------------------------------------------------------------------------

BASE_FORM = {"comment": "upgrade", "created_by": "ops"}
BODIES: list[tuple[dict[str, str], dict[str, Any]]] = [
    (
        {"node": "spark-01", "duration": "2h"},
        {"node": "spark-01", "duration": "2h"},
    ),
    (
        {"matchers": 'alertname=~"GPU.*"\n\n  gpu!=1 ', "ends": "2026-12-04T18:30"},
        {
            "matchers": [
                {"name": "alertname", "value": "GPU.*", "isRegex": True, "isEqual": True},
                {"name": "gpu", "value": "1", "isRegex": False, "isEqual": False},
            ],
            "endsAt": "2026-12-04T18:30:00+01:00",
        },
    ),
    (
        {"node": "spark-02", "cron": "0 2 * * SUN", "duration": "2h"},
        {
            "node": "spark-02",
            "recurrence": {"cron": "0 2 * * SUN", "duration": "2h", "timezone": "Europe/Berlin"},
        },
    ),
]


@pytest.mark.parametrize(("form", "body"), BODIES)
def test_window_form_becomes_the_silences_api_body(
    form: dict[str, str], body: dict[str, Any]
) -> None:
    expected = {"createdBy": "ops", "comment": "upgrade", **body}
    assert window_body({**BASE_FORM, **form}, BERLIN) == expected


FORM_ERRORS = [
    ({"matchers": "just words"}, "matchers"),
    ({"ends": "tomorrow"}, "ends"),
    ({"cron": "0 2 * * *", "ends": "2026-12-05T10:00"}, "ends"),
    ({"comment": "x" * 5000}, "comment"),
]


@pytest.mark.parametrize(("form", "field"), FORM_ERRORS)
def test_what_only_a_form_gets_wrong_is_named_by_its_field(
    form: dict[str, str], field: str
) -> None:
    with pytest.raises(FormError) as raised:
        window_body({**BASE_FORM, **form}, BERLIN)
    assert raised.value.field == field


FIELDS = [
    ("matchers", "matchers"),
    ("matchers[2].value", "matchers"),
    ("recurrence.cron", "cron"),
    ("recurrence.timezone", "cron"),
    ("recurrence.duration", "duration"),
    ("endsAt", "ends"),
    ("duration", "duration"),
    ("createdBy", "created_by"),
    ("body", "form"),
]


@pytest.mark.parametrize(("api_field", "form"), FIELDS)
def test_api_validation_errors_land_beside_the_form_field(api_field: str, form: str) -> None:
    assert form_field(api_field) == form


def test_matchers_are_written_as_alertmanager_writes_them() -> None:
    matchers = [
        {"name": "node", "value": "spark-01", "isRegex": False, "isEqual": True},
        {"name": "alertname", "value": "GPU.*", "isRegex": True, "isEqual": True},
        {"name": "gpu", "value": "1", "isRegex": False, "isEqual": False},
        {"name": "job", "value": "dcgm.*", "isRegex": True, "isEqual": False},
    ]
    assert matchers_text(matchers) == (
        'node="spark-01", alertname=~"GPU.*", gpu!="1", job!~"dcgm.*"'
    )


# --- deliveries and links -------------------------------------------------------------------

FILTERS = [
    ({}, DeliveryFilter()),
    (
        {"status": "dead", "channel": "pagerduty", "node": "n1"},
        DeliveryFilter("dead", "pagerduty", "n1"),
    ),
    ({"status": "bogus", "channel": "email"}, DeliveryFilter()),
]


@pytest.mark.parametrize(("args", "expected"), FILTERS)
def test_delivery_filters_ignore_unknown_values(
    args: dict[str, str], expected: DeliveryFilter
) -> None:
    assert read_filter(args) == expected


@pytest.mark.parametrize(
    ("href", "safe"),
    [
        ("https://runbooks.example/GPU.md", True),
        ("http://grafana:3001/d/x", True),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        ("data:text/html,<script>", False),
        ("//evil.example", False),
    ],
)
def test_only_http_links_are_made_from_alert_text(href: str, safe: bool) -> None:
    assert safe_href(href) is safe
