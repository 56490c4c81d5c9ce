"""Storm incident messages: PagerDuty events and Slack blocks built from a StormView."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bridge.notify.pagerduty_event import MAX_DEDUP_KEY_CHARS
from bridge.notify.storm_message import (
    NODES_LISTED,
    STILL_FIRING_LISTED,
    ended_line,
    joined_line,
    resolved_in_pagerduty,
    storm_acknowledge_event,
    storm_dedup_key,
    storm_details,
    storm_resolve_event,
    storm_slack_message,
    storm_summary,
    storm_trigger_event,
)
from bridge.storm_view import FoldedAlert, StormView
from tests.fakes.pagerduty import MAX_EVENT_BYTES, validate_event

START = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
PUBLIC = "https://bridge.example.test"


def _alert(node: int, gpu: int, celsius: float, status: str = "firing") -> FoldedAlert:
    return FoldedAlert(
        fingerprint=f"fp-{node}-{gpu}",
        node=f"dgx-spark-{node:02}",
        gpu=str(gpu),
        status=status,
        value=f"{celsius:g} °C",
    )


def _view(alerts: list[FoldedAlert], **changes: object) -> StormView:
    view = StormView(
        id=7,
        alertname="GPUTemperatureCritical",
        severity="critical",
        started_at=START,
        ended_at=None,
        last_fired_at=START + timedelta(minutes=3),
        fired_count=len(alerts),
        alerts=tuple(alerts),
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def _row(nodes: int = 78, gpus: int = 4) -> list[FoldedAlert]:
    """312 GPUs on 78 nodes at 86–90 °C, with dgx-spark-17 GPU 2 the hottest at 94 °C."""
    return [
        _alert(n, g, 94 if (n, g) == (17, 2) else 86 + (n + g) % 5)
        for n in range(nodes)
        for g in range(gpus)
    ]


def test_the_summary_reads_as_the_storm_in_one_line() -> None:
    assert storm_summary(_view(_row())) == (
        "GPUTemperatureCritical storm: 312 GPUs on 78 nodes, hottest dgx-spark-17 GPU 2 at 94 °C"
    )


def test_the_summary_says_how_many_still_fire_once_some_resolved() -> None:
    alerts = [replace(a, status="resolved") if a.node != "dgx-spark-17" else a for a in _row()]
    assert storm_summary(_view(alerts)).endswith(", 4 still firing")


def test_an_ended_storm_says_how_long_it_lasted() -> None:
    alerts = [replace(a, status="resolved") for a in _row()]
    view = _view(alerts, ended_at=START + timedelta(minutes=23))
    assert storm_summary(view) == (
        "GPUTemperatureCritical storm over after 23m: 312 GPUs on 78 nodes, all resolved"
    )
    assert "held 312 firings of 312 alerts on 78 nodes" in ended_line(view)


def test_the_details_count_by_node_list_the_worst_and_link_the_storms_alerts() -> None:
    details = storm_details(_view(_row()), PUBLIC)
    assert details["alerts by node"]["dgx-spark-17"] == 4
    assert len(details["alerts by node"]) == 78
    assert details["worst alerts"][0] == "dgx-spark-17 GPU 2: 94 °C"
    assert len(details["worst alerts"]) == 10
    assert details["alert list"] == f"{PUBLIC}/alerts?storm=7&limit=500"
    assert details["firing now"] == 312


def test_long_lists_are_cut_and_say_how_many_more() -> None:
    details = storm_details(_view(_row(nodes=250)), None)
    assert len(details["alerts by node"]) == NODES_LISTED + 1
    assert details["alerts by node"]["(150 more nodes)"] == 600
    assert len(details["still firing"]) == STILL_FIRING_LISTED + 1
    assert details["still firing"][-1] == "… and 950 more"
    assert details["alert list"] == "/alerts?storm=7&limit=500"


def test_the_trigger_event_meets_the_events_api_contract_even_for_a_huge_storm() -> None:
    event = storm_trigger_event(_view(_row(nodes=2500)), PUBLIC)
    assert validate_event({**event, "routing_key": "R0UT1NGKEY0123456789abcdefABCDEF"}) == []
    assert len(json.dumps(event).encode()) < MAX_EVENT_BYTES
    assert event["links"][0]["href"] == f"{PUBLIC}/alerts?storm=7&limit=500"


def test_one_storm_keeps_one_dedup_key_and_the_resolve_uses_it() -> None:
    view = _view(_row())
    grown = _view(_row(nodes=90))
    assert storm_dedup_key(view) == storm_dedup_key(grown)
    assert storm_trigger_event(grown, None)["dedup_key"] == storm_resolve_event(view)["dedup_key"]
    assert storm_dedup_key(view) != storm_dedup_key(replace(view, started_at=START + timedelta(1)))
    long_name = replace(view, alertname="X" * 300)
    assert len(storm_dedup_key(long_name)) <= MAX_DEDUP_KEY_CHARS


def test_the_slack_message_escapes_label_text() -> None:
    view = _view([FoldedAlert("fp", "<!channel>&node", "0", "firing", "99 °C")])
    text, blocks = storm_slack_message(view, None)
    rendered = json.dumps(blocks) + text
    assert "<!channel>" not in rendered
    assert "&lt;!channel&gt;&amp;node" in rendered
    assert "&lt;!channel&gt;" in joined_line(view, view.nodes)


def test_the_thread_line_names_the_nodes_that_joined() -> None:
    view = _view(_row(nodes=12), slack_nodes=tuple(f"dgx-spark-{n:02}" for n in range(10)))
    assert view.new_nodes == ("dgx-spark-10", "dgx-spark-11")
    assert joined_line(view, view.new_nodes).startswith(
        ":heavy_plus_sign: 2 nodes joined: dgx-spark-10, dgx-spark-11 (now 48 GPUs on 12 nodes)"
    )


def _choices(view: StormView) -> list[str]:
    _, blocks = storm_slack_message(view, None, interactive=True)
    elements = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    values = [e.get("value") for e in elements] + [
        o["value"] for e in elements for o in e.get("options", [])
    ]
    return [v.split(":")[0] for v in values if v]


def test_a_storm_offers_acknowledge_until_someone_did_and_nothing_once_it_is_over() -> None:
    silences = ["storm-1h", "storm-4h", "storm-nodes-1h", "storm-nodes-4h"]
    view = _view(_row(4, 1), paged=True)
    assert _choices(view) == ["storm-ack", *silences]
    assert _choices(replace(view, response={"acked_by": "ada"})) == silences
    assert _choices(replace(view, paged=False)) == silences
    assert _choices(replace(view, ended_at=START + timedelta(hours=1))) == []
    _, plain = storm_slack_message(view, None)
    assert not [b for b in plain if b["type"] == "actions"]
    value = f"storm-ack:7.{int(START.timestamp())}"
    assert value in json.dumps(storm_slack_message(view, None, interactive=True)[1])


def test_a_storm_resolved_in_pagerduty_says_so_while_it_fires_and_is_not_refreshed() -> None:
    view = _view(_row(4, 1), response={"pd_status": "resolved", "pd_responder": "Ada"})
    assert resolved_in_pagerduty(view)
    _, blocks = storm_slack_message(view, None)
    assert "Resolved in PagerDuty, still firing" in json.dumps(blocks)
    assert storm_acknowledge_event(view) == {
        "event_action": "acknowledge",
        "dedup_key": storm_dedup_key(view),
    }
