"""How a stored context shows in the page and the Slack message, and the chart PNG."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from bridge.enrich.chart import HEIGHT, WIDTH, render_chart
from bridge.enrich.render import chart_url, missing_text
from bridge.notify.pagerduty_event import trigger_event
from bridge.notify.slack_blocks import MAX_FIELDS, MAX_SECTION_CHARS, single_message
from bridge.notify.view import AlertView, LinkBase

LINKS = LinkBase("http://grafana:3001", "http://am:9093", public_url="https://bridge.example")
START = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def view(annotations: dict[str, str] | None = None) -> AlertView:
    return AlertView(
        fingerprint="fp1",
        status="firing",
        labels={
            "alertname": "GPUTemperatureCritical",
            "severity": "critical",
            "node": "dgx-spark-01",
            "gpu": "0",
        },
        annotations=annotations
        if annotations is not None
        else {"summary": "GPU 0 on dgx-spark-01 is at 87 °C", "threshold": "85 °C"},
        starts_at=START,
        ends_at=None,
        generator_url="http://prometheus:9090/graph?g0.expr=x",
    )


CHART = {
    "title": "GPU temperature, dgx-spark-01 GPU 0",
    "unit": "celsius",
    "threshold": 85.0,
    "expr": "max(x)",
    "start": 1795870800,
    "end": 1795874400,
    "step": 60.0,
    "series": [
        {
            "name": "dgx-spark-01 GPU 0",
            "points": [[1795870800 + 60 * i, 70 + i * 0.3] for i in range(61)],
        }
    ],
    "delivery": 42,
    "key": "s3cr3t-key",
}
CONTEXT: dict[str, Any] = {
    "GPU temperature": "88 °C",
    "trend": "+1.7 °C/min",
    "other GPUs": (
        "dgx-spark-02 GPU 0: 61 °C · dgx-spark-03 GPU 0: 59 °C · dgx-spark-04 GPU 0: 58 °C"
    ),
    "_family": "gpu_temperature",
    "_key": "88 °C, trend +1.7 °C/min",
    "_missing": [
        {"what": "power draw", "why": "Prometheus did not answer within 2s"},
        {"what": "SM clock", "why": "Prometheus did not answer within 2s"},
        {"what": "chart", "why": "no data in Prometheus"},
    ],
    "_chart": CHART,
}


def test_the_page_summary_carries_the_key_number_from_the_context() -> None:
    event = trigger_event(view(), LINKS, CONTEXT)
    assert event["payload"]["summary"] == (
        "[CRITICAL] GPUTemperatureCritical on dgx-spark-01 GPU 0: "
        "88 °C, trend +1.7 °C/min (threshold 85 °C)"
    )


def test_a_value_annotation_still_wins_over_the_context() -> None:
    alert = view({"value": "87 °C", "threshold": "85 °C"})
    summary = trigger_event(alert, LINKS, CONTEXT)["payload"]["summary"]
    assert summary.endswith(": 87 °C (threshold 85 °C)")


def test_custom_details_have_readable_keys_and_say_what_is_missing() -> None:
    details = trigger_event(view(), LINKS, CONTEXT)["payload"]["custom_details"]
    assert list(details)[:4] == ["GPU temperature", "trend", "other GPUs", "missing context"]
    assert details["GPU temperature"] == "88 °C"
    assert details["missing context"] == (
        "power draw, SM clock: Prometheus did not answer within 2s; chart: no data in Prometheus"
    )
    assert not any(key.startswith("_") for key in details)
    assert details["labels"]["node"] == "dgx-spark-01"


def test_the_chart_is_a_pagerduty_image_only_over_https() -> None:
    (image,) = trigger_event(view(), LINKS, CONTEXT)["images"]
    assert image["src"] == "https://bridge.example/charts/42.png?key=s3cr3t-key"
    assert image["href"].startswith("http://grafana:3001/d/dgx-spark-gpu-details?")
    assert image["alt"] == "GPU temperature, dgx-spark-01 GPU 0"
    plain = LinkBase("http://grafana:3001", "http://am:9093", public_url="http://bridge:9095")
    assert "images" not in trigger_event(view(), plain, CONTEXT)
    assert chart_url(CONTEXT, None) is None


def test_the_worker_s_own_failure_note_is_shown_too() -> None:
    note = {"_missing": "enrichment failed: RuntimeError"}
    assert missing_text(note) == "enrichment failed: RuntimeError"
    details = trigger_event(view(), LINKS, note)["payload"]["custom_details"]
    assert details["missing context"] == "enrichment failed: RuntimeError"


def test_slack_shows_context_compactly_within_block_limits() -> None:
    text, blocks = single_message(view(), LINKS, CONTEXT)
    assert text == (
        "[CRITICAL] GPUTemperatureCritical on dgx-spark-01 GPU 0: "
        "88 °C, trend +1.7 °C/min (threshold 85 °C)"
    )
    (context,) = [b for b in blocks if b["type"] == "section" and "*Context*" in b["text"]["text"]]
    fields = [f["text"] for f in context["fields"]]
    assert fields == ["*GPU temperature*\n88 °C", "*trend*\n+1.7 °C/min"]
    assert "*other GPUs:* dgx-spark-02 GPU 0: 61 °C" in context["text"]["text"]  # long: a line
    (note,) = [b for b in blocks if b["type"] == "context" and "Missing" in json.dumps(b)]
    assert note["elements"][0]["text"].startswith(":warning: Missing context: power draw, SM")
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
            assert len(block.get("fields", [])) <= MAX_FIELDS


def test_many_context_lines_never_exceed_ten_fields() -> None:
    context = {f"line {i}": f"{i} °C" for i in range(25)}
    _, blocks = single_message(view(), LINKS, context)
    assert all(len(b.get("fields", [])) <= MAX_FIELDS for b in blocks)
    assert "line 24" in json.dumps(blocks)


def test_the_chart_is_a_png_of_the_expected_size() -> None:
    png = render_chart(CHART)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    # The threshold line is drawn in red somewhere.
    rgb = image.convert("RGB")
    assert (214, 39, 40) in {rgb.getpixel((x, y)) for x in range(WIDTH) for y in range(HEIGHT)}


def test_a_chart_without_points_says_no_data() -> None:
    png = render_chart({**CHART, "series": []})
    assert Image.open(io.BytesIO(png)).size == (WIDTH, HEIGHT)


def test_several_series_and_gaps_are_drawn() -> None:
    spec = {
        **CHART,
        "unit": "up",
        "threshold": None,
        "series": [
            {
                "name": "dcgm",
                "points": [[CHART["start"], 1], [CHART["start"] + 60, None], [CHART["end"], 0]],
            },
            {"name": "node", "points": [[CHART["start"], 1]]},
        ],
    }
    assert render_chart(spec).startswith(b"\x89PNG")


def test_the_key_line_is_not_repeated_under_the_headline() -> None:
    context = {
        "GPU memory": "95 % used: 121.6 GiB of 128.0 GiB",
        "trend": "+1 MiB/min",
        "_key": "95 % used: 121.6 GiB of 128.0 GiB",
    }
    _, blocks = single_message(view(), LINKS, context)
    assert json.dumps(blocks).count("121.6 GiB of 128.0 GiB") == 1
