"""Grafana provisioning and the three dashboards: structure, variables, valid PromQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stack.helpers import DASHBOARDS_DIR, REPO_ROOT, describe, find_tool, load_yaml, run
from tests.support.peers import PeerVersions

EXPECTED = {
    "cluster-overview.json": "dgx-spark-overview",
    "gpu-details.json": "dgx-spark-gpu-details",
    "vllm-inference.json": "dgx-spark-inference",
}
DATASOURCE_UID = "prometheus"

# SEED.md's DCGM metric table: the GPU details dashboard shows every one of them.
SEED_DCGM_METRICS = [
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_MEM_COPY_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_SM_CLOCK",
    "DCGM_FI_DEV_MEM_CLOCK",
    "DCGM_FI_DEV_PCIE_TX_THROUGHPUT",
    "DCGM_FI_DEV_PCIE_RX_THROUGHPUT",
    "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
]

# What Grafana substitutes before a query reaches Prometheus (variables set to "All").
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$node": ".*",
    "$gpu": ".*",
}


def _load(name: str) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads((DASHBOARDS_DIR / name).read_text(encoding="utf-8"))
    return dashboard


def _all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _all_panels(panel.get("panels", []))  # rows nest panels


def _query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    # Rows only group panels; they hold no queries.
    return [p for p in _all_panels(dashboard["panels"]) if p["type"] != "row"]


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in _query_panels(dashboard) for t in p["targets"]]


def concrete(expr: str) -> str:
    for variable in sorted(SUBSTITUTIONS, key=len, reverse=True):
        expr = expr.replace(variable, SUBSTITUTIONS[variable])
    return expr


DASHBOARDS = {name: _load(name) for name in sorted(EXPECTED)}


def test_exactly_the_three_dashboards_ship() -> None:
    assert {p.name for p in DASHBOARDS_DIR.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dashboard_uid(name: str) -> None:
    assert DASHBOARDS[name]["uid"] == EXPECTED[name]
    assert DASHBOARDS[name]["title"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_panel_ids_are_unique(name: str) -> None:
    ids = [p["id"] for p in _all_panels(DASHBOARDS[name]["panels"])]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {name}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_panel_has_the_datasource_and_a_query(name: str) -> None:
    panels = _query_panels(DASHBOARDS[name])
    assert len(panels) >= 6
    for panel in panels:
        title = panel.get("title", panel["id"])
        assert panel.get("datasource", {}).get("uid") == DATASOURCE_UID, title
        assert panel["targets"], f"{title}: no targets"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), f"{title}: duplicate refId"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"{title}: a target without expr"
            assert target.get("datasource", {}).get("uid", DATASOURCE_UID) == DATASOURCE_UID


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_panels_do_not_overlap(name: str) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in DASHBOARDS[name]["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_node_and_gpu_variables_come_from_the_node_label(name: str) -> None:
    variables = {v["name"]: v for v in DASHBOARDS[name]["templating"]["list"]}
    assert {"node", "gpu"} <= set(variables)
    for var in ("node", "gpu"):
        definition = variables[var]
        query = (
            definition["query"]["query"]
            if isinstance(definition["query"], dict)
            else definition["query"]
        )
        assert query.startswith("label_values("), query
        assert definition["datasource"]["uid"] == DATASOURCE_UID
        assert definition.get("includeAll") and definition.get("allValue") == ".*"
    assert variables["node"]["definition"].endswith(", node)")
    assert 'node=~"$node"' in variables["gpu"]["definition"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_queries_filter_on_node_never_on_hostname(name: str) -> None:
    for expr in _exprs(DASHBOARDS[name]):
        assert not re.search(r"\b[Hh]ostname\b", expr), expr
        # "All" is the regex .*: an equality matcher on a variable would select nothing.
        assert not re.search(r'\w+="\$\w+"', expr), f"use =~ with variables: {expr}"


def test_every_panel_query_is_valid_promql(tmp_path: Path, peer_versions: PeerVersions) -> None:
    # promtool has no "check expression"; a rule file of the queries gets them parsed.
    promtool = find_tool("promtool", peer_versions)
    rules = [
        {"record": f"dashboard:query:{i}", "expr": concrete(expr)}
        for i, expr in enumerate(e for d in DASHBOARDS.values() for e in _exprs(d))
    ]
    for rule in rules:
        assert "$" not in rule["expr"], f"unsubstituted variable in {rule['expr']}"
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(path)])
    assert result.returncode == 0, describe(result)


def test_promql_check_catches_a_broken_query(tmp_path: Path, peer_versions: PeerVersions) -> None:
    promtool = find_tool("promtool", peer_versions)
    broken = concrete('rate(DCGM_FI_DEV_GPU_UTIL{node=~"$node"}[$__rate_interval)')
    rule = {"record": "x:y:z", "expr": broken}
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
    assert run([promtool, "check", "rules", str(path)]).returncode != 0


def test_gpu_details_shows_every_dcgm_metric_of_the_seed_table() -> None:
    exprs = " ".join(_exprs(DASHBOARDS["gpu-details.json"]))
    missing = [m for m in SEED_DCGM_METRICS if m not in exprs]
    assert not missing, missing


def test_nvlink_panel_says_it_is_empty_on_dgx_spark() -> None:
    panels = [
        p
        for p in _query_panels(DASHBOARDS["gpu-details.json"])
        if any("NVLINK" in t["expr"] for t in p["targets"])
    ]
    assert panels
    for panel in panels:
        text = f"{panel['title']} {panel.get('description', '')}"
        assert "DGX Spark" in text and "empty" in text, panel["title"]


def test_gpu_memory_panels_work_on_unified_memory() -> None:
    exprs = " ".join(_exprs(DASHBOARDS["gpu-details.json"]))
    assert "gpu:memory_utilization:ratio" in exprs
    assert "node_memory_MemAvailable_bytes" in exprs
    framebuffer = [
        p
        for p in _query_panels(DASHBOARDS["gpu-details.json"])
        if any("DCGM_FI_DEV_FB_" in t["expr"] for t in p["targets"])
    ]
    for panel in framebuffer:
        assert "DGX Spark" in f"{panel['title']} {panel.get('description', '')}", panel["title"]


def test_inference_dashboard_reads_old_and_new_vllm_names() -> None:
    exprs = _exprs(DASHBOARDS["vllm-inference.json"])
    assert any(
        re.search(r"vllm:kv_cache_usage_perc\{[^}]*\}\s+or\s+vllm:gpu_cache_usage_perc", e)
        for e in exprs
    )
    assert any(
        "vllm:inter_token_latency_seconds_bucket" in e
        and "vllm:time_per_output_token_seconds_bucket" in e
        and " or " in e
        for e in exprs
    )
    joined = " ".join(exprs)
    for metric in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:e2e_request_latency_seconds_bucket",
    ):
        assert metric in joined, metric


# ------------------------------------------------------------------ provisioning


def test_datasource_is_provisioned_with_the_uid_the_panels_use() -> None:
    config = load_yaml(REPO_ROOT / "grafana/provisioning/datasources/prometheus.yml")
    (datasource,) = config["datasources"]
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"


def test_dashboards_provider_reads_the_mounted_folder() -> None:
    config = load_yaml(REPO_ROOT / "grafana/provisioning/dashboards/dashboards.yml")
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_alert_dashboard_links_point_at_shipped_dashboards() -> None:
    text = (REPO_ROOT / "prometheus/rules/alerting-rules.yml").read_text(encoding="utf-8")
    linked = set(re.findall(r"/d/([\w-]+)", text))
    assert linked and linked <= set(EXPECTED.values()), linked - set(EXPECTED.values())
