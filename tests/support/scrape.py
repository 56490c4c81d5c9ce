"""Reading the bridge's /metrics as Prometheus would scrape it."""

from __future__ import annotations

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families


def gauge_by_label(app: Flask, name: str, label: str) -> dict[str, int]:
    """Each sample of gauge `name`, by the value of its `label`."""
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {
        sample.labels[label]: int(sample.value)
        for family in text_string_to_metric_families(text)
        if family.name == name
        for sample in family.samples
    }


def window_occurrences(app: Flask) -> dict[str, int]:
    """alert_bridge_window_occurrences by sync_state."""
    return gauge_by_label(app, "alert_bridge_window_occurrences", "sync_state")
