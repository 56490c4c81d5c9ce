"""PagerDuty events fit 512 KB by construction: the least important content goes first."""

from __future__ import annotations

from typing import Any

from bridge.notify.pagerduty_event import MAX_EVENT_BYTES, event_bytes, fit_event


def event(annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "event_action": "trigger",
        "dedup_key": "dgx-spark-bridge/fp",
        "payload": {
            "summary": "[CRITICAL] GPUTemperatureCritical on dgx-spark-01 GPU 0: 87 °C",
            "source": "dgx-spark-01",
            "severity": "critical",
            "custom_details": {"labels": {"node": "dgx-spark-01"}, "annotations": annotations},
        },
        "links": [{"href": "https://grafana.example/d/x", "text": "Grafana panel"}],
    }


def test_an_event_within_the_limit_is_left_as_it_is() -> None:
    small = event({"summary": "hot"})
    assert fit_event(small) is small


def test_a_655_kb_event_is_cut_to_fit_keeping_what_pages_and_saying_so() -> None:
    big = event({f"note_{i:02d}": "é" * 16_000 for i in range(40)} | {"summary": "hot"})
    assert event_bytes(big) > MAX_EVENT_BYTES

    fitted = fit_event(big)

    assert event_bytes(fitted) <= MAX_EVENT_BYTES - 1024  # room for the routing key
    assert fitted["payload"]["summary"] == big["payload"]["summary"]
    assert fitted["dedup_key"] == big["dedup_key"] and fitted["links"] == big["links"]
    details = fitted["payload"]["custom_details"]
    assert details["labels"] == {"node": "dgx-spark-01"}
    assert details["annotations"]["summary"] == "hot"
    assert details["annotations"]["note_00"].endswith("… [truncated]")
    assert "512 KB" in details["truncated"]
    assert big["payload"]["custom_details"]["annotations"]["note_00"] == "é" * 16_000  # a copy
