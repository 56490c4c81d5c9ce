"""Interactivity's pure parts: verifying, parsing, deciding, and the buttons, table-driven."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from bridge.interact import pagerduty as pd
from bridge.interact.allowed import AllowList
from bridge.interact.slack import (
    MAX_STORM_NODES,
    InteractionError,
    next_monday_morning,
    parse_click,
    safe_response_url,
    signature_valid,
    silence_plan,
    storm_silence_plan,
)
from bridge.notify.slack_blocks import group_actions, group_message, response_lines, single_message
from bridge.notify.view import AlertView, LinkBase
from bridge.silences.matching import all_match
from tests.fakes.signing import (
    pagerduty_incident_event,
    pagerduty_note_event,
    pagerduty_signature,
    slack_signature,
)
from tests.fakes.slack_blocks import validate_blocks

FORM = "application/x-www-form-urlencoded"
NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # a Friday
LINKS = LinkBase(grafana_url="http://grafana:3001", alertmanager_url="http://am:9093")
LABELS = {"alertname": "GPUTemperatureCritical", "node": "dgx-spark-01", "severity": "critical"}


def click_body(**changes: Any) -> bytes:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U0ADA", "username": "ada", "name": "ada"},
        "response_url": "https://hooks.slack.com/actions/T0/1/x",
        "actions": [
            {"type": "button", "action_id": "ack", "value": "ack:12.1764860000", "action_ts": "1"}
        ],
    }
    payload.update(changes)
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_a_button_click_parses_into_choice_alert_episode_and_actor() -> None:
    click = parse_click(click_body(), FORM)
    assert (click.choice, click.target_id, click.episode) == ("ack", 12, 1764860000)
    assert click.actor == "ada (Slack U0ADA)" and click.user_id == "U0ADA"


def test_a_menu_choice_is_read_from_the_selected_option() -> None:
    action = {
        "type": "static_select",
        "action_id": "act-3",
        "selected_option": {"value": "silence-node-2h:7.100"},
    }
    click = parse_click(click_body(actions=[action]), FORM)
    assert (click.choice, click.target_id, click.episode) == ("silence-node-2h", 7, 100)


@pytest.mark.parametrize(
    ("body", "mimetype", "error"),
    [
        (click_body(), "application/json", "unsupported content type"),
        (b"", FORM, "missing payload"),
        (b"payload=a&payload=b", FORM, "missing payload"),
        (b"payload=%7B", FORM, "malformed payload"),
        (b"\xff\xfe", FORM, "malformed form body"),
        (click_body(type="view_submission"), FORM, "unsupported interaction"),
        (click_body(user={"id": "jane"}), FORM, "malformed payload"),
        (click_body(actions=[]), FORM, "malformed payload"),
        (click_body(actions=[{"action_id": "rm", "value": "ack:1.1"}]), FORM, "unknown action"),
        (click_body(actions=[{"action_id": "ack", "value": "reboot:1.1"}]), FORM, "unknown action"),
        (click_body(actions=[{"action_id": "ack", "value": "ack:node-1"}]), FORM, "unknown action"),
        (click_body(actions=[{"action_id": "ack", "value": 5}]), FORM, "unknown action"),
    ],
)
def test_clicks_that_can_never_be_acted_on_are_400(body: bytes, mimetype: str, error: str) -> None:
    with pytest.raises(InteractionError) as raised:
        parse_click(body, mimetype)
    assert (raised.value.status, raised.value.error) == (400, error)


def slack_ok(body: bytes, timestamp: str, signature: str, now: datetime = NOW) -> bool:
    return signature_valid("secret", body, timestamp, signature, lambda: now)


@pytest.mark.parametrize(
    ("timestamp", "signed_with", "ok"),
    [
        (NOW, "secret", True),
        (NOW - timedelta(seconds=299), "secret", True),
        (NOW - timedelta(seconds=301), "secret", False),
        (NOW + timedelta(seconds=301), "secret", False),
        (NOW, "other", False),
    ],
)
def test_slack_signatures_need_the_secret_and_a_timestamp_within_five_minutes(
    timestamp: datetime, signed_with: str, ok: bool
) -> None:
    ts = str(int(timestamp.timestamp()))
    body = click_body()
    assert slack_ok(body, ts, slack_signature(signed_with, ts, body)) is ok


@pytest.mark.parametrize(
    ("timestamp", "signature"), [(None, "v0=ab"), ("now", "v0=ab"), ("1", None), ("1" * 40, "x")]
)
def test_malformed_slack_signature_headers_are_invalid_not_errors(
    timestamp: str | None, signature: str | None
) -> None:
    assert not signature_valid("secret", b"x", timestamp, signature, lambda: NOW)


@pytest.mark.parametrize(
    ("url", "api", "kept"),
    [
        ("https://hooks.slack.com/actions/T/1/x", "https://slack.com/api/", True),
        ("https://slack.com/actions/x", "https://slack.com/api/", True),
        ("http://hooks.slack.com/actions/x", "https://slack.com/api/", False),
        ("https://hooks.slack.com.evil.example/x", "https://slack.com/api/", False),
        ("https://evil.example/hooks.slack.com", "https://slack.com/api/", False),
        ("https://169.254.169.254/latest", "https://slack.com/api/", False),
        ("https://127.0.0.1:8443/actions/x", "https://127.0.0.1:8443/api/", True),
        ("https://127.0.0.1:9999/actions/x", "https://127.0.0.1:8443/api/", False),
        (None, "https://slack.com/api/", False),
    ],
)
def test_only_response_urls_on_slacks_own_host_or_domain_are_used(
    url: str | None, api: str, kept: bool
) -> None:
    assert (safe_response_url(url, api) is not None) is kept


def test_an_empty_allow_list_allows_everyone_and_a_list_only_its_users() -> None:
    def allows(entries: tuple[str, ...], user: str) -> bool | None:
        return AllowList(entries, token=None, api_url="https://slack.com/api/").allows(user)

    assert allows((), "U1") and allows(("U1", "U2"), "U1")
    assert allows(("U1", "U2"), "U3") is False
    # A user group that cannot be read (no client here): undecided, so the click is refused.
    assert allows(("U1", "S0ONCALL"), "U3") is None


@pytest.mark.parametrize(
    ("choice", "ends", "matchers"),
    [
        ("silence-1h", NOW + timedelta(hours=1), {"alertname", "node"}),
        ("silence-4h", NOW + timedelta(hours=4), {"alertname", "node"}),
        # Friday 15:00 UTC = 16:00 in Berlin → Monday 09:00 Berlin = 08:00 UTC.
        ("silence-monday", datetime(2026, 12, 7, 8, 0, tzinfo=UTC), {"alertname", "node"}),
        ("silence-node-2h", NOW + timedelta(hours=2), {"node"}),
    ],
)
def test_each_silence_choice_covers_its_alert_or_node_until_its_end(
    choice: str, ends: datetime, matchers: set[str]
) -> None:
    plan = silence_plan(choice, LABELS, NOW, "Europe/Berlin", timedelta(days=7))
    assert plan.ends_at == ends
    assert {m.name for m in plan.matchers} == matchers
    assert all(m.value in LABELS.values() and not m.is_regex for m in plan.matchers)


@pytest.mark.parametrize(
    ("now", "monday"),
    [
        (datetime(2026, 12, 7, 7, 59, tzinfo=UTC), datetime(2026, 12, 7, 9, 0)),  # Mon 08:59
        (datetime(2026, 12, 7, 8, 0, tzinfo=UTC), datetime(2026, 12, 14, 9, 0)),  # Mon 09:00
        (datetime(2026, 12, 6, 22, 0, tzinfo=UTC), datetime(2026, 12, 7, 9, 0)),  # Sun 23:00
    ],
)
def test_until_monday_means_the_next_monday_nine_oclock_in_the_bridges_time_zone(
    now: datetime, monday: datetime
) -> None:
    assert next_monday_morning(now, "Europe/Berlin").replace(tzinfo=None) == monday


def test_an_alert_without_a_node_cannot_be_silenced_from_slack() -> None:
    with pytest.raises(InteractionError):
        silence_plan("silence-1h", {"alertname": "X"}, NOW, "UTC", timedelta(days=7))


# -- PagerDuty -------------------------------------------------------------------------------


def v1(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (pagerduty_signature(("s",), b"body"), True),
        (pagerduty_signature(("old", "s"), b"body"), True),
        (f"{v1('old', b'body')}, {v1('s', b'body')}", True),
        (pagerduty_signature(("old",), b"body"), False),
        (pagerduty_signature(("s",), b"other"), False),
        ("v0=" + v1("s", b"body")[3:], False),
        ("", False),
        (None, False),
    ],
)
def test_a_pagerduty_event_is_accepted_when_any_v1_signature_matches(
    header: str | None, ok: bool
) -> None:
    assert pd.signature_valid("s", b"body", header) is ok


def body(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def test_a_v3_incident_event_parses_into_state_responder_and_link() -> None:
    raw = pagerduty_incident_event(
        "incident.reassigned", "dgx-spark-bridge/abc", status="acknowledged", assignees=("Bo",)
    )
    event = pd.parse_event(body(raw))
    assert event is not None
    assert (event.status, event.assignees, pd.responder(event)) == ("acknowledged", ("Bo",), "Bo")
    assert pd.fingerprint_of(event.incident_key) == "abc"
    assert event.incident_url.endswith("/incidents/PINC0001")


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b"{not json",
        body({"event": {"event_type": "incident.resolved"}}),
        body({"event": {"id": "1", "event_type": "incident.resolved", "occurred_at": "x"}}),
        body({**pagerduty_incident_event("incident.resolved", "k", status="closed")}),
    ],
)
def test_well_signed_bodies_that_are_not_v3_events_are_refused(raw: bytes) -> None:
    with pytest.raises(pd.WebhookError):
        pd.parse_event(raw)


def test_event_types_the_bridge_does_not_handle_are_ignored() -> None:
    raw = pagerduty_incident_event("incident.priority_updated", "k", status="triggered")
    assert pd.parse_event(body(raw)) is None


def test_thread_lines_escape_pagerduty_text_and_say_when_prometheus_still_fires() -> None:
    note = pd.parse_event(body(pagerduty_note_event("<!channel> & co", agent="A <b>")))
    assert note is not None
    assert (
        pd.thread_line(note, True)
        == ":memo: Note from A &lt;b&gt; in PagerDuty: &lt;!channel&gt; &amp; co"
    )
    resolved = pd.parse_event(
        body(pagerduty_incident_event("incident.resolved", "k", status="resolved"))
    )
    assert resolved is not None
    assert "still firing" in pd.thread_line(resolved, True)
    assert "still firing" not in pd.thread_line(resolved, False)


# -- buttons and state in messages -----------------------------------------------------------


def view(**changes: Any) -> AlertView:
    base = AlertView(
        fingerprint="fp",
        status="firing",
        labels=dict(LABELS),
        annotations={"summary": "hot"},
        starts_at=NOW - timedelta(minutes=5),
        ends_at=None,
        generator_url="",
        alert_id=42,
        paged=True,
    )
    return replace(base, **changes)


def actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize(
    ("alert", "interactive", "kinds"),
    [
        (view(), True, ["button", "static_select"]),
        (view(paged=False), True, ["static_select"]),
        (view(response={"acked_by": "ada"}), True, ["static_select"]),
        (view(status="resolved"), True, []),
        (view(), False, []),
    ],
)
def test_a_single_message_offers_what_can_still_be_done(
    alert: AlertView, interactive: bool, kinds: list[str]
) -> None:
    _, blocks = single_message(alert, LINKS, interactive=interactive)
    assert [e["type"] for e in actions(blocks)] == kinds
    assert validate_blocks(blocks) == []
    assert blocks[-1]["type"] == "context"  # the links stay


def test_a_group_message_gets_one_menu_per_firing_alert_within_slacks_limits() -> None:
    alerts = [view(alert_id=i, labels={**LABELS, "node": f"n{i}"}) for i in range(40)]
    alerts[0] = replace(alerts[0], status="resolved")
    _, blocks = group_message(alerts, LINKS, interactive=True)
    menus = actions(blocks)
    assert len(menus) == 25 and menus[0]["placeholder"]["text"] == "GPUTemperatureCritical on n1"
    assert validate_blocks(blocks) == [] and len(blocks) <= 50
    assert group_actions([view(status="resolved")]) == []


def test_the_state_lines_say_who_acknowledged_silenced_and_what_pagerduty_shows() -> None:
    alert = view(
        response={
            "acked_by": "ada <x>",
            "acked_at": NOW.isoformat(),
            "ack_source": "pagerduty",
            "silenced_by": "bob",
            "silenced_until": NOW.isoformat(),
            "pd_status": "resolved",
            "pd_incident_url": "javascript:alert(1)",
        }
    )
    lines = response_lines(alert)
    assert lines[0] == ":warning: Resolved in PagerDuty, still firing"  # no unsafe link
    assert lines[1].startswith(":eyes: Acknowledged in PagerDuty by ada &lt;x&gt; <!date^")
    assert lines[2].startswith(":no_bell: Silenced by bob until <!date^")


START = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


def pd_event(**changes: Any) -> pd.PdEvent:
    event = pd.PdEvent(
        "EV1",
        "incident.acknowledged",
        START + timedelta(minutes=5),
        "Ada",
        incident_id="PINC2",
        status="acknowledged",
        created_at=START + timedelta(seconds=5),
    )
    return replace(event, **changes)


@pytest.mark.parametrize(
    ("event", "tied", "elsewhere", "why"),
    [
        (pd_event(), None, False, ""),
        (pd_event(), "PINC2", False, ""),
        (pd_event(created_at=None), None, False, ""),
        (pd_event(), "PINC1", False, "another incident is tied to this episode"),
        (pd_event(), None, True, "its incident belongs to another episode"),
        (
            pd_event(occurred_at=START - timedelta(minutes=50)),
            None,
            False,
            "older than the episode",
        ),
        # PagerDuty's clock a few seconds behind the one that set the start.
        (pd_event(occurred_at=START - timedelta(seconds=5), created_at=None), None, False, ""),
        (
            pd_event(created_at=START - timedelta(hours=1)),
            None,
            False,
            "its incident opened before the episode",
        ),
    ],
)
def test_an_event_belongs_to_an_episode_only_when_its_incident_and_time_fit(
    event: pd.PdEvent, tied: str | None, elsewhere: bool, why: str
) -> None:
    assert pd.not_shown_because(event, pd.Belonging(START, tied, elsewhere)) == why


def test_incident_triggered_is_handled_and_storm_keys_name_their_storm() -> None:
    raw = pagerduty_incident_event("incident.triggered", "dgx-spark-bridge/fp", status="triggered")
    event = pd.parse_event(body(raw))
    assert event is not None and event.type == "incident.triggered"
    assert event.created_at is not None
    key = "dgx-spark-bridge/storm/GPU/Temp/2026-11-28T04:00:00+00:00"
    assert pd.storm_key_parts(key) == ("GPU/Temp", START)
    assert pd.storm_key_parts("dgx-spark-bridge/storm/" + "a" * 64) is None
    assert pd.storm_key_parts("dgx-spark-bridge/fp-x") is None


def test_a_storm_silence_covers_its_name_or_only_its_nodes_and_is_capped() -> None:
    places = [("node", "dgx-spark-01"), ("node", "dgx.spark(2)"), ("node", "dgx-spark-01")]
    four_hours = timedelta(hours=4)
    everywhere = storm_silence_plan("storm-1h", "GPUHot", places, NOW, four_hours)
    assert [str(m) for m in everywhere.matchers] == ['alertname="GPUHot"']
    assert everywhere.ends_at == NOW + timedelta(hours=1)
    only = storm_silence_plan("storm-nodes-4h", "GPUHot", places, NOW, timedelta(hours=1))
    assert only.ends_at == NOW + timedelta(hours=1)  # capped by BRIDGE_MAX_WINDOW_DURATION
    assert only.what == "GPUHot on 2 nodes"
    hits = {
        n: all_match(only.matchers, {"alertname": "GPUHot", "node": n})
        for n in ("dgx-spark-01", "dgx.spark(2)", "dgxXspark(2)", "dgx-spark-011", "other")
    }
    assert hits == {
        "dgx-spark-01": True,
        "dgx.spark(2)": True,
        "dgxXspark(2)": False,
        "dgx-spark-011": False,
        "other": False,
    }
    mixed = [("node", "a"), ("instance", "b:9100")]
    with pytest.raises(InteractionError):
        storm_silence_plan("storm-nodes-1h", "GPUHot", mixed, NOW, four_hours)
    many = [("node", f"n{i}") for i in range(MAX_STORM_NODES + 1)]
    with pytest.raises(InteractionError):
        storm_silence_plan("storm-nodes-1h", "GPUHot", many, NOW, four_hours)


def test_the_whole_node_silence_is_capped_by_the_longest_window_allowed() -> None:
    labels = {"alertname": "GPUHot", "node": "dgx-spark-01"}
    plan = silence_plan("silence-node-2h", labels, NOW, "UTC", timedelta(minutes=30))
    assert plan.ends_at == NOW + timedelta(minutes=30)
