"""Prometheus configuration, rules and their promtool unit tests (Prometheus 2.42 here)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.stack.helpers import (
    PROMETHEUS_DIR,
    REPO_ROOT,
    RULE_FILES,
    RULE_TEST_FILES,
    RUNBOOKS_DIR,
    describe,
    find_tool,
    load_yaml,
    rules_of_kind,
    run,
)
from tests.support.peers import PeerVersions

ALERTS = rules_of_kind("alert")
RECORDS = rules_of_kind("record")
ALERT_NAMES = [rule["alert"] for rule in ALERTS]
RECORD_NAMES = [rule["record"] for rule in RECORDS]

DASHBOARD_UIDS = {"dgx-spark-overview", "dgx-spark-gpu-details", "dgx-spark-inference"}

# The alerts the stack was specified with (SEED.md): name -> (severity, for, comparison).
SPECIFIED_ALERTS = {
    "GPUTemperatureCritical": ("critical", "2m", "> 85"),
    "GPUMemoryExhausted": ("critical", "5m", "> 0.95"),
    "DGXSparkNodeDown": ("critical", "1m", "== 0"),
    "GPUXIDError": ("critical", None, None),
    "GPUTemperatureWarning": ("warning", "5m", "> 75"),
    "GPUMemoryHigh": ("warning", "10m", "> 0.85"),
    "GPUUnderutilized": ("warning", "1h", "< 10"),
    "HighCPUUsage": ("warning", "15m", "> 90"),
    "HighMemoryUsage": ("warning", "10m", "> 90"),
}
SPECIFIED_RECORDS = {
    "cluster:gpu_utilization:avg",
    "cluster:gpu_memory_used_bytes:sum",
    "cluster:power_watts:sum",
    "cluster:gpu_temperature:max",
    "node:gpu_utilization:avg",
    "node:cpu_utilization:avg",
    "node:memory_utilization:percent",
    "gpu:memory_utilization:ratio",
}

# Alerts whose value is not a measurement (always 1, a count of series, an XID count):
# their description need not print it.
VALUELESS = {
    "Watchdog",
    "DGXSparkNodeDown",
    "ExporterDown",
    "GPUMetricsMissing",
    "AlertBridgeDown",
    "GPUXIDError",
    # 0 = the last reload failed: the description says so in words.
    "PrometheusConfigReloadFailed",
    "AlertmanagerConfigReloadFailed",
}


def _unit_tests() -> list[tuple[str, dict[str, Any]]]:
    """(file name, test group) for every promtool test group."""
    return [
        (path.name, group)
        for path in RULE_TEST_FILES
        for group in (load_yaml(path) or {}).get("tests", [])
    ]


# ------------------------------------------------------------------ promtool


def test_prometheus_config_is_valid(peer_versions: PeerVersions) -> None:
    promtool = find_tool("promtool", peer_versions)
    # Also loads the rule files and the file_sd target files the config names.
    result = run([promtool, "check", "config", "prometheus.yml"], cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, describe(result)


def test_there_are_rule_files_and_rule_tests() -> None:
    assert {p.name for p in RULE_FILES} >= {"recording-rules.yml", "alerting-rules.yml"}
    assert RULE_TEST_FILES, "prometheus/rules/tests/ has no promtool test files"


def test_rule_files_pass_promtool_check_rules(peer_versions: PeerVersions) -> None:
    promtool = find_tool("promtool", peer_versions)
    result = run([promtool, "check", "rules", "--lint=all", "--lint-fatal", *map(str, RULE_FILES)])
    assert result.returncode == 0, describe(result)


@pytest.mark.parametrize("test_file", RULE_TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file: Any, peer_versions: PeerVersions) -> None:
    promtool = find_tool("promtool", peer_versions)
    result = run([promtool, "test", "rules", str(test_file)], cwd=test_file.parent)
    assert result.returncode == 0, describe(result)


def test_a_wrong_expectation_fails_promtool(tmp_path: Any, peer_versions: PeerVersions) -> None:
    # Guards the guard: promtool must report a failing unit test as a failure.
    promtool = find_tool("promtool", peer_versions)
    (tmp_path / "t.yml").write_text(
        f"rule_files: [{RULE_FILES[0]}]\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series:\n"
        '      - series: \'DCGM_FI_DEV_GPU_UTIL{node="n", gpu="0"}\'\n'
        "        values: '50x5'\n"
        "    promql_expr_test:\n"
        "      - expr: node:gpu_utilization:avg\n"
        "        eval_time: 1m\n"
        "        exp_samples:\n"
        "          - labels: 'node:gpu_utilization:avg{node=\"n\"}'\n"
        "            value: 51\n"
    )
    result = run([promtool, "test", "rules", "t.yml"], cwd=tmp_path)
    assert result.returncode != 0, describe(result)


# ------------------------------------------------------------------ coverage by unit tests


def test_every_alert_fires_in_some_unit_test() -> None:
    fired = {
        case["alertname"]
        for _, group in _unit_tests()
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    missing = sorted(set(ALERT_NAMES) - fired)
    assert not missing, f"alerts never shown firing in prometheus/rules/tests/: {missing}"


def test_every_alert_with_a_duration_is_shown_not_firing_too() -> None:
    # "fires after its `for`, not before, not below": each needs a negative case.
    quiet = {
        case["alertname"]
        for _, group in _unit_tests()
        for case in group.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    needing = {rule["alert"] for rule in ALERTS if rule.get("for") and rule["alert"] != "Watchdog"}
    missing = sorted(needing - quiet)
    assert not missing, f"alerts without a case where they must not fire: {missing}"


def test_every_recording_rule_is_checked_in_some_unit_test() -> None:
    checked = " ".join(
        case["expr"]
        for _, group in _unit_tests()
        for case in group.get("promql_expr_test", [])
        if case.get("exp_samples")
    )
    missing = [
        name
        for name in RECORD_NAMES
        if not re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", checked)
    ]
    assert not missing, f"recording rules without a promql_expr_test: {missing}"


def test_unit_tests_fix_the_group_evaluation_order() -> None:
    # Without group_eval_order promtool evaluates groups in random order, and an alert
    # reading a recording rule sees this or the previous evaluation's value at random.
    groups = {g["name"] for path in RULE_FILES for g in load_yaml(path)["groups"]}
    for path in RULE_TEST_FILES:
        order = load_yaml(path).get("group_eval_order")
        assert order, f"{path.name}: no group_eval_order"
        assert set(order) <= groups, f"{path.name}: unknown groups {set(order) - groups}"


# ------------------------------------------------------------------ the contract


def test_specified_recording_rules_exist() -> None:
    assert set(RECORD_NAMES) >= SPECIFIED_RECORDS, SPECIFIED_RECORDS - set(RECORD_NAMES)


def test_rule_names_are_unique() -> None:
    assert len(ALERT_NAMES) == len(set(ALERT_NAMES))
    assert len(RECORD_NAMES) == len(set(RECORD_NAMES))


@pytest.mark.parametrize("name", sorted(SPECIFIED_ALERTS))
def test_specified_alert_keeps_its_threshold_duration_and_severity(name: str) -> None:
    severity, duration, comparison = SPECIFIED_ALERTS[name]
    rule = next((r for r in ALERTS if r["alert"] == name), None)
    assert rule is not None, f"{name} is missing from alerting-rules.yml"
    assert rule["labels"]["severity"] == severity
    assert rule.get("for") == duration
    if comparison:
        assert comparison in " ".join(rule["expr"].split()), rule["expr"]


@pytest.mark.parametrize("rule", ALERTS, ids=lambda r: r["alert"])
def test_alert_has_labels_and_annotations_operators_need(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert rule.get("labels", {}).get("severity") in {"critical", "warning", "none"}
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url", "dashboard_url"):
        assert annotations.get(key), f"{name}: no {key} annotation"
    if name not in VALUELESS:
        assert "$value" in annotations["description"], f"{name}: description lacks the value"
    # The repository path; the bridge puts BRIDGE_RUNBOOK_BASE_URL in front of it.
    assert annotations["runbook_url"] == f"docs/runbooks/{name}.md"
    uid = re.search(r"/d/([\w-]+)", annotations["dashboard_url"])
    assert uid and uid.group(1) in DASHBOARD_UIDS, annotations["dashboard_url"]


@pytest.mark.parametrize("rule", ALERTS, ids=lambda r: r["alert"])
def test_alert_has_a_runbook(rule: dict[str, Any]) -> None:
    page = RUNBOOKS_DIR / f"{rule['alert']}.md"
    assert page.is_file(), f"no runbook {page.relative_to(REPO_ROOT)}"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {rule['alert']}\n")
    # What an operator needs on the page: something to run and something to do.
    assert "```" in text, f"{page.name}: no commands or queries"
    assert re.search(r"^## (Act|Act, by code)", text, re.M), f"{page.name}: no '## Act' section"


def _configured_runbook_base() -> str:
    """BRIDGE_RUNBOOK_BASE_URL as .env.example shows it (docker-compose.yml passes it on)."""
    text = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    found = re.search(r"^#?BRIDGE_RUNBOOK_BASE_URL=(\S+)$", text, re.M)
    assert found, ".env.example does not show BRIDGE_RUNBOOK_BASE_URL"
    compose = load_yaml(REPO_ROOT / "docker-compose.yml")
    bridge_env = compose["services"]["alert-bridge"]["environment"]
    assert bridge_env["BRIDGE_RUNBOOK_BASE_URL"].startswith("${BRIDGE_RUNBOOK_BASE_URL")
    return found.group(1)


@pytest.mark.parametrize("rule", ALERTS, ids=lambda r: r["alert"])
def test_runbook_link_resolves_to_a_file_in_docs_runbooks_through_the_configured_base(
    rule: dict[str, Any],
) -> None:
    from bridge.notify.view import AlertView, LinkBase, runbook_url
    from bridge.settings import load_settings

    base = _configured_runbook_base()
    settings = load_settings({"BRIDGE_RUNBOOK_BASE_URL": base})
    alert = AlertView.from_snapshot(
        {
            "labels": {"alertname": rule["alert"], **rule["labels"]},
            "annotations": rule["annotations"],
            "starts_at": "2026-01-01T00:00:00+00:00",
        }
    )
    links = LinkBase(
        grafana_url=settings.grafana_url,
        alertmanager_url=settings.alertmanager_external_url,
        runbook_base_url=settings.runbook_base_url,
    )
    link = runbook_url(alert, links)
    assert link.startswith(base + "/"), link
    page = RUNBOOKS_DIR / link.removeprefix(base + "/")
    assert page.is_file(), f"{rule['alert']}: {link} is no file in docs/runbooks/"


def _alerts_the_bridge_raises() -> set[str]:
    """Alert names whose runbook the bridge's own code names (e.g. AlertingPipelineDown)."""
    found = set()
    for path in (REPO_ROOT / "bridge").rglob("*.py"):
        found |= set(re.findall(r'"docs/runbooks/(\w+)\.md"', path.read_text(encoding="utf-8")))
    return found


def test_the_bridges_own_alerts_have_runbooks() -> None:
    raised = _alerts_the_bridge_raises()
    assert "AlertingPipelineDown" in raised
    for name in raised:
        assert (RUNBOOKS_DIR / f"{name}.md").is_file(), f"no runbook for {name}"


def test_no_runbook_without_an_alert() -> None:
    pages = {p.stem for p in RUNBOOKS_DIR.glob("*.md")} - {"README"}
    orphans = sorted(pages - set(ALERT_NAMES) - _alerts_the_bridge_raises())
    assert not orphans, f"runbooks for alerts that do not exist: {orphans}"


def test_alerts_about_a_node_or_gpu_carry_those_labels() -> None:
    # The inhibit rules compare node (and gpu); an alert that aggregates them away can
    # neither be muted by a node-down nor mute its warning twin. Checked on the labels the
    # unit tests expect, i.e. on what the rules really produce.
    labels_seen: dict[str, list[set[str]]] = {}
    for _, group in _unit_tests():
        for case in group.get("alert_rule_test", []):
            for alert in case.get("exp_alerts") or []:
                labels_seen.setdefault(case["alertname"], []).append(set(alert["exp_labels"]))
    for name, label_sets in labels_seen.items():
        if name.startswith("GPU") and name != "GPUMetricsMissing":
            wanted = {"node", "gpu", "severity"}
        elif name.startswith(("Node", "High", "DGX", "Exporter", "GPUMetricsMissing")):
            wanted = {"node", "severity"}
        else:
            wanted = {"severity"}
        for labels in label_sets:
            assert wanted <= labels, f"{name} fires without {sorted(wanted - labels)}"


def test_rules_join_on_node_never_on_hostname() -> None:
    for path in RULE_FILES:
        exprs = " ".join(str(r["expr"]) for g in load_yaml(path)["groups"] for r in g["rules"])
        assert not re.search(r"\b[Hh]ostname\b", exprs), f"{path.name}: exporter host label"
        assert "instance=~" not in exprs and 'instance="' not in exprs, path.name


def test_watchdog_always_fires_with_severity_none() -> None:
    rule = next(r for r in ALERTS if r["alert"] == "Watchdog")
    assert rule["expr"].strip() == "vector(1)"
    assert rule["labels"]["severity"] == "none"
    assert not rule.get("for")


def test_the_bridges_own_alerts_route_around_the_bridge() -> None:
    own = {r["alert"]: r for r in ALERTS if r["alert"].startswith("AlertBridge")}
    assert {"AlertBridgeDown", "AlertBridgeDeliveriesFailing", "AlertBridgeOutboxBacklog"} <= set(
        own
    )
    for name, rule in own.items():
        assert rule["labels"].get("route") == "direct", name
    assert own["AlertBridgeDown"]["labels"]["severity"] == "critical"
    assert own["AlertBridgeDown"]["for"] == "2m"
    assert 'up{job="alert-bridge"} == 0' in own["AlertBridgeDown"]["expr"]
    assert "alert_bridge_notifications_total" in own["AlertBridgeDeliveriesFailing"]["expr"]
    assert "alert_bridge_outbox_depth" in own["AlertBridgeOutboxBacklog"]["expr"]


def test_xid_alert_is_not_the_sticky_gauge_alone() -> None:
    rule = next(r for r in ALERTS if r["alert"] == "GPUXIDError")
    expr = rule["expr"]
    assert "DCGM_EXP_XID_ERRORS_COUNT" in expr
    assert "changes(DCGM_FI_DEV_XID_ERRORS[" in expr
    assert not re.search(r"^\s*DCGM_FI_DEV_XID_ERRORS\s*>\s*0\s*$", expr, re.M)


# ------------------------------------------------------------------ scrape configuration


def test_scrape_jobs_and_intervals() -> None:
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["evaluation_interval"] == "15s"
    assert config["rule_files"] == ["rules/*.yml"]
    targets = [
        t
        for am in config["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
        for t in sc["targets"]
    ]
    assert targets == ["alertmanager:9093"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {
        "prometheus",
        "alertmanager",
        "alert-bridge",
        "dcgm",
        "node",
        "spark",
        "vllm",
    }
    assert jobs["alert-bridge"]["static_configs"][0]["targets"] == ["alert-bridge:9095"]
    assert jobs["alert-bridge"].get("metrics_path", "/metrics") == "/metrics"
    assert jobs["spark"]["metrics_path"] == "/metrics/prometheus"
    for job in ("dcgm", "node", "spark", "vllm"):
        files = jobs[job]["file_sd_configs"][0]["files"]
        assert files == [f"targets/{job}-targets.yml"], job


@pytest.mark.parametrize("job", ["dcgm", "node", "spark", "vllm"])
def test_every_target_group_is_labelled_with_node_and_role(job: str) -> None:
    groups = load_yaml(PROMETHEUS_DIR / "targets" / f"{job}-targets.yml")
    assert groups, job
    for group in groups:
        assert group["targets"], group
        assert {"node", "role"} <= set(group["labels"]), group
    nodes = {(g["labels"]["node"], g["labels"]["role"]) for g in groups}
    assert nodes == {("dgx-spark-01", "master"), ("dgx-spark-02", "worker")}


def test_retention_is_set_where_prometheus_reads_it() -> None:
    # Retention exists only as flags; in prometheus.yml it would be silently ignored.
    compose = load_yaml(REPO_ROOT / "docker-compose.yml")
    flags = compose["services"]["prometheus"]["command"]
    assert "--storage.tsdb.retention.time=30d" in flags
    assert "--storage.tsdb.retention.size=50GB" in flags
