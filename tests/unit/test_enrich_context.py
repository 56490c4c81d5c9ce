"""Context assembly from query results: readable lines with units, the key fact, and what is
missing and why. Pure: outcomes are built by hand here, Prometheus is in the integration tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bridge.enrich.config import EnrichmentConfig, parse_enrichment
from bridge.enrich.context import assemble
from bridge.enrich.model import Failure, Outcomes, QueryOutcome, Sample, Series, TcpResult
from bridge.enrich.plan import plan_for

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
GIB = 1024**3


def one(value: float, **labels: str) -> tuple[Sample, ...]:
    return (Sample(labels, value),)


def build(
    labels: dict[str, str],
    results: dict[str, QueryOutcome],
    *,
    config: EnrichmentConfig | None = None,
    annotations: dict[str, str] | None = None,
    chart: Any = None,
    tcp: Any = None,
) -> dict[str, Any]:
    plan = plan_for(labels, annotations or {}, config or EnrichmentConfig())
    # Every planned query answers "no data" unless the test says otherwise.
    outcomes = {pq.query.name: results.get(pq.query.name, ()) for pq in plan.queries}
    window = (NOW.timestamp() - 3600, NOW.timestamp(), 60.0)
    return assemble(plan, labels, Outcomes(outcomes, chart, tcp), NOW, chart_window=window)


def lines(context: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in context.items() if not k.startswith("_")}


TEMP = {"alertname": "GPUTemperatureCritical", "node": "n1", "gpu": "0"}


def test_temperature_lines_carry_units_and_the_key_fact() -> None:
    context = build(
        TEMP,
        {
            "GPU temperature": one(87.4),
            "15 min max": one(88.0),
            "trend": one(0.42),
            "power draw": one(131.2),
            "SM clock": one(1350),
            "_sm_clock_max_1h": one(2400),
            "throttle reasons": one(0x20),
            "other GPUs": (
                Sample({"node": "n1", "gpu": "0"}, 87.4),
                Sample({"node": "n2", "gpu": "0"}, 61.0),
                Sample({"node": "n3", "gpu": "0"}, 58.0),
            ),
        },
    )
    assert lines(context) == {
        "GPU temperature": "87 °C",
        "15 min max": "88 °C",
        "trend": "+0.4 °C/min",
        "power draw": "131 W",
        "SM clock": "1,350 MHz (56 % of its 1 h max, 2,400 MHz)",
        "throttle reasons": "SW thermal slowdown (0x20)",
        "other GPUs": "n2 GPU 0: 61 °C · n3 GPU 0: 58 °C",
    }
    assert context["_key"] == "87 °C, trend +0.4 °C/min"
    assert context["_family"] == "gpu_temperature"
    # Only the non-optional queries with no data count as missing.
    assert context["_missing"] == []
    json.dumps(context)  # stored in a JSON column


def test_no_data_for_a_required_line_is_missing_but_optional_lines_are_silent() -> None:
    context = build(TEMP, {"GPU temperature": one(87)})
    missing = {m["what"]: m["why"] for m in context["_missing"]}
    assert missing["power draw"] == "no data in Prometheus"
    assert "slowdown temperature" not in missing  # absent on GB10: optional
    assert "other GPUs" not in missing


def test_failures_name_the_line_an_input_feeds() -> None:
    down = Failure("Prometheus unreachable (connection refused)")
    context = build(
        {"alertname": "GPUMemoryHigh", "node": "n1", "gpu": "0"},
        {"_mem_total": down, "_mem_available": down, "_mem_available_deriv": down},
    )
    assert context["_missing"] == [
        {"what": "GPU memory", "why": "Prometheus unreachable (connection refused)"},
        {"what": "trend", "why": "Prometheus unreachable (connection refused)"},
    ]
    assert "GPU memory" not in lines(context)


def test_memory_prefers_the_framebuffer_and_says_which() -> None:
    context = build(
        {"alertname": "GPUMemoryHigh", "node": "n1", "gpu": "0"},
        {
            "_fb_used": one(60 * GIB),
            "_fb_free": one(20 * GIB),
            "_fb_used_deriv": one(10 * 1024**2 / 60),  # 10 MiB/min
            "_mem_total": one(128 * GIB),
            "_mem_available": one(100 * GIB),
        },
    )
    assert lines(context)["GPU memory"] == "75 % used: 60.0 GiB of 80.0 GiB (framebuffer)"
    assert lines(context)["trend"] == "+10.0 MiB/min"
    assert lines(context)["time to exhaustion"] == "about 1d 10h 8m at this rate"


def test_unified_memory_that_is_shrinking_is_not_growing() -> None:
    context = build(
        {"alertname": "GPUMemoryHigh", "node": "n1", "gpu": "0"},
        {
            "_mem_total": one(128 * GIB),
            "_mem_available": one(16 * GIB),
            "_mem_available_deriv": one(1024**2),
        },
    )
    assert lines(context)["GPU memory"].startswith("88 % used: 112.0 GiB of 128.0 GiB (unified")
    assert lines(context)["time to exhaustion"] == "not growing"


def test_node_down_lists_exporters_last_seen_and_tcp() -> None:
    seen = NOW.timestamp() - 270
    context = build(
        {"alertname": "DGXSparkNodeDown", "node": "n3"},
        {
            "_targets": (
                Sample({"job": "node", "instance": "10.0.0.3:9100"}, 0),
                Sample({"job": "dcgm", "instance": "10.0.0.3:9400"}, 0),
                Sample({"job": "vllm", "instance": "10.0.0.3:8000"}, 1),
            ),
            "_last_seen": (Sample({"job": "dcgm", "instance": "10.0.0.3:9400"}, seen),),
            "other nodes": (Sample({"node": "n1"}, 1), Sample({"node": "n2"}, 0)),
        },
        tcp=(
            TcpResult("10.0.0.3:9400", "dcgm", "timeout", "no answer within 1s"),
            TcpResult("10.0.0.3:9100", "node", "refused"),
        ),
    )
    assert lines(context) == {
        "exporters down": "dcgm (10.0.0.3:9400), node (10.0.0.3:9100)",
        "exporters up": "vllm (10.0.0.3:8000)",
        "last seen": "dcgm: 4m 30s ago · node: not up in the last 6h of samples",
        "TCP from the bridge": (
            "10.0.0.3:9400 timeout (no answer within 1s) · 10.0.0.3:9100 refused"
        ),
        "other nodes": "n1: up · n2: down",
    }
    assert context["_key"] == (
        "dcgm, node down, 1 of 3 exporters answer; TCP from the bridge: 0 of 2 ports open"
    )


def test_xid_without_a_label_falls_back_to_the_gauge() -> None:
    context = build(
        {"alertname": "GPUXIDError", "node": "n1", "gpu": "0"},
        {"_last_xid": one(48), "XIDs in 24 h": one(3), "_targets": one(1, job="node")},
    )
    assert lines(context)["XID"] == "48: double-bit ECC error"
    assert lines(context)["node still up"] == "yes: 1 of 1 exporters answer"
    assert lines(context)["XIDs in 24 h"] == "3"


def test_an_alert_without_a_gpu_label_skips_gpu_queries_and_says_why() -> None:
    context = build({"alertname": "GPUTemperatureCritical", "node": "n1"}, {})
    reasons = {m["what"]: m["why"] for m in context["_missing"]}
    assert reasons["GPU temperature"] == "the alert has no 'gpu' label"
    assert "_chart" not in context  # the chart needs the label too


def test_count_keys_read_as_a_phrase() -> None:
    context = build({"alertname": "NodeOOMKill", "node": "n1"}, {"OOM kills in 1 h": one(2.008)})
    assert context["_key"] == "2 OOM kills in 1 h"


def test_unknown_alerts_get_only_configured_queries() -> None:
    assert lines(build({"alertname": "Mine", "node": "n1"}, {})) == {}
    config = parse_enrichment(
        {
            "alerts": {
                "Mine": {
                    "queries": {"queue": {"expr": 'q{node="{node}"}', "unit": "count"}},
                    "key": "queue",
                }
            }
        }
    )
    context = build({"alertname": "Mine", "node": "n1"}, {"queue": one(12)}, config=config)
    assert lines(context) == {"queue": "12"}
    assert context["_key"] == "12 queue"


def test_several_series_without_list_by_are_named_by_the_labels_that_differ() -> None:
    config = parse_enrichment({"alerts": {"Mine": {"queries": {"disks": "d"}}}})
    context = build(
        {"alertname": "Mine"},
        {
            "disks": (
                Sample({"mountpoint": "/", "node": "n"}, 91),
                Sample({"mountpoint": "/data", "node": "n"}, 42),
            )
        },
        config=config,
    )
    assert lines(context)["disks"] == "/: 91 · /data: 42"


def test_the_chart_keeps_few_points_and_the_threshold_from_the_annotation() -> None:
    points = tuple((NOW.timestamp() - 3600 + 15 * i, 70.0 + i / 10) for i in range(241))
    context = build(
        TEMP,
        {"GPU temperature": one(87)},
        annotations={"threshold": "83 °C"},
        chart=(Series({"node": "n1", "gpu": "0"}, points),),
    )
    chart = context["_chart"]
    assert chart["title"] == "GPU temperature, n1 GPU 0"
    assert chart["threshold"] == 83.0 and chart["unit"] == "celsius"
    (series,) = chart["series"]
    assert len(series["points"]) <= 61
    assert series["points"][0] == [int(points[0][0]), 70.0]


def test_a_chart_that_could_not_be_fetched_is_missing_but_its_spec_is_kept() -> None:
    context = build(TEMP, {"GPU temperature": one(87)}, chart=Failure("Prometheus down"))
    assert {"what": "chart", "why": "Prometheus down"} in context["_missing"]
    assert "series" not in context["_chart"] and context["_chart"]["expr"].startswith("max(")
