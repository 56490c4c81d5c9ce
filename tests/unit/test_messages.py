"""PagerDuty events and Slack blocks: what a human sees at 3 a.m., within vendor limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bridge.notify.pagerduty_event import (
    MAX_DEDUP_KEY_CHARS,
    MAX_SUMMARY_CHARS,
    dedup_key,
    resolve_event,
    trigger_event,
)
from bridge.notify.slack_blocks import (
    MAX_BLOCKS,
    MAX_HEADER_CHARS,
    MAX_SECTION_CHARS,
    group_message,
    resolved_reply,
    single_message,
)
from bridge.notify.view import AlertView, LinkBase

LINKS = LinkBase(grafana_url="http://grafana:3001", alertmanager_url="http://am:9093")


def view(**overrides: Any) -> AlertView:
    labels = {
        "alertname": "GPUTemperatureCritical",
        "severity": "critical",
        "node": "dgx-spark-01",
        "gpu": "0",
        "role": "master",
    }
    base: dict[str, Any] = {
        "fingerprint": "4f3a9c",
        "status": "firing",
        "labels": labels,
        "annotations": {
            "value": "87 °C",
            "threshold": "85 °C",
            "summary": "GPU 0 on dgx-spark-01 is at 87 °C",
            "runbook_url": "https://runbooks/GPUTemperatureCritical.md",
        },
        "starts_at": datetime(2026, 11, 28, 3, 0, tzinfo=UTC),
        "ends_at": None,
        "generator_url": "http://prometheus:9090/graph?g0.expr=x",
    }
    base.update(overrides)
    return AlertView(**base)


def test_summary_reads_like_the_example_in_the_issue() -> None:
    event = trigger_event(view(), LINKS)
    assert (
        event["payload"]["summary"]
        == "[CRITICAL] GPUTemperatureCritical on dgx-spark-01 GPU 0: 87 °C (threshold 85 °C)"
    )
    assert event["payload"]["source"] == "dgx-spark-01"
    assert event["payload"]["class"] == "GPUTemperatureCritical"
    assert event["payload"]["component"] == "GPU 0"
    assert event["payload"]["severity"] == "critical"
    assert event["payload"]["custom_details"]["labels"]["node"] == "dgx-spark-01"


def test_links_point_to_runbook_dashboard_silence_and_graph() -> None:
    links = {link["text"]: link["href"] for link in trigger_event(view(), LINKS)["links"]}
    assert links["Runbook"] == "https://runbooks/GPUTemperatureCritical.md"
    panel = links["Grafana panel"]
    assert panel.startswith("http://grafana:3001/d/dgx-spark-gpu-details?")
    assert "var-node=dgx-spark-01" in panel and "var-gpu=0" in panel
    assert "viewPanel=11" in panel  # GPU temperature
    # From an hour before the alert started (03:00 UTC) to now.
    assert f"from={int(datetime(2026, 11, 28, 2, 0, tzinfo=UTC).timestamp() * 1000)}" in panel
    assert "to=now" in panel
    assert links["Silence in Alertmanager"].startswith("http://am:9093/#/silences/new?filter=")
    assert links["Prometheus graph"].startswith("http://prometheus:9090/graph")


def test_overlong_summary_is_truncated_visibly() -> None:
    long = view(annotations={"summary": "x" * 5000})
    summary = trigger_event(long, LINKS)["payload"]["summary"]
    assert len(summary) == MAX_SUMMARY_CHARS
    assert summary.endswith("[truncated]")


def test_dedup_key_is_stable_and_bounded() -> None:
    assert dedup_key("4f3a9c") == dedup_key("4f3a9c")
    assert dedup_key("4f3a9c") != dedup_key("4f3a9d")
    assert len(dedup_key("f" * 1000)) <= MAX_DEDUP_KEY_CHARS
    assert resolve_event(view()) == {"event_action": "resolve", "dedup_key": dedup_key("4f3a9c")}


def test_unknown_severity_maps_to_a_valid_pagerduty_severity() -> None:
    labels = {"alertname": "X", "severity": "page"}
    assert trigger_event(view(labels=labels), LINKS)["payload"]["severity"] == "error"


def _block_limits_hold(blocks: list[dict[str, Any]]) -> None:
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= MAX_HEADER_CHARS
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
            assert len(block.get("fields", [])) <= 10


def test_single_slack_message_has_fallback_text_and_key_facts() -> None:
    text, blocks = single_message(view(), LINKS)
    assert "GPUTemperatureCritical" in text and "87 °C" in text
    _block_limits_hold(blocks)
    rendered = json.dumps(blocks, ensure_ascii=False)
    assert "dgx-spark-01" in rendered and "Runbook" in rendered


def test_group_of_many_alerts_stays_within_slack_block_limits() -> None:
    alerts = [
        view(fingerprint=f"fp{i}", labels={"alertname": f"A{i}", "node": "n" * 200})
        for i in range(300)
    ]
    text, blocks = group_message(alerts, LINKS)
    _block_limits_hold(blocks)
    assert "300" in text
    assert "more" in json.dumps(blocks)


def test_resolved_reply_says_how_long_it_lasted() -> None:
    done = view(status="resolved", ends_at=datetime(2026, 11, 28, 3, 42, tzinfo=UTC))
    assert "resolved after 42m" in resolved_reply(done, datetime.now(UTC))
