"""alertmanager.yml: validity on both ends of the supported range (amtool of Alertmanager 0.25
and of the newest), routing cases, inhibitions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.stack.helpers import (
    ALERTMANAGER_CONFIG,
    REPO_ROOT,
    describe,
    find_tool,
    load_yaml,
    rules_of_kind,
    run,
)
from tests.support.peers import PeerVersions

ROUTES_FILE = REPO_ROOT / "alertmanager" / "tests" / "routes.txt"
TEMPLATES_DIR = REPO_ROOT / "alertmanager" / "templates"
BRIDGE_WEBHOOK = "http://alert-bridge:9095/webhook/alertmanager"
TOKEN_FILE = "/etc/alertmanager/secrets/bridge-webhook-token"
CONFIG = load_yaml(ALERTMANAGER_CONFIG)


def _route_cases() -> list[tuple[str, list[str]]]:
    cases = []
    for line in ROUTES_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            expected, *labels = line.split()
            cases.append((expected, labels))
    return cases


ROUTE_CASES = _route_cases()


def _routes_test(expected: str, labels: list[str], peers: PeerVersions) -> Any:
    amtool = find_tool("amtool", peers)
    return run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER_CONFIG}",
            f"--verify.receivers={expected}",
            *labels,
        ]
    )


def test_config_passes_amtool_check_config(peer_versions: PeerVersions) -> None:
    amtool = find_tool("amtool", peer_versions)
    result = run([amtool, "check-config", str(ALERTMANAGER_CONFIG)])
    assert result.returncode == 0, describe(result)
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("expected", "labels"), ROUTE_CASES, ids=lambda v: v if isinstance(v, str) else " ".join(v)
)
def test_routing_case(expected: str, labels: list[str], peer_versions: PeerVersions) -> None:
    result = _routes_test(expected, labels, peer_versions)
    assert result.returncode == 0, describe(result)


def test_a_wrong_receiver_fails_the_routing_check(peer_versions: PeerVersions) -> None:
    # Guards the guard: --verify.receivers must make amtool fail on a mismatch.
    result = _routes_test(
        "pagerduty-direct", ["alertname=GPUXIDError", "severity=critical"], peer_versions
    )
    assert result.returncode != 0, describe(result)


def test_routing_cases_cover_what_the_contract_promises() -> None:
    by_labels = {frozenset(labels): expected for expected, labels in ROUTE_CASES}

    def receiver_for(**wanted: str) -> set[str]:
        return {
            expected
            for labels, expected in by_labels.items()
            if {f"{k}={v}" for k, v in wanted.items()} <= labels
        }

    # Alerts of the cluster (not the bridge's own, which carry route=direct).
    cluster = [label_set for label_set in by_labels if "route=direct" not in label_set]
    assert {by_labels[ls] for ls in cluster if "severity=critical" in ls} == {"alert-bridge"}
    assert {by_labels[ls] for ls in cluster if "severity=warning" in ls} == {"alert-bridge"}
    assert receiver_for(alertname="Watchdog") == {"external-heartbeat,alert-bridge-watchdog"}
    assert receiver_for(alertname="AlertBridgeDown") == {"pagerduty-direct"}


def test_every_direct_alert_is_routed_directly(peer_versions: PeerVersions) -> None:
    direct = [r for r in rules_of_kind("alert") if r.get("labels", {}).get("route") == "direct"]
    assert direct
    for rule in direct:
        labels = [f"alertname={rule['alert']}", *(f"{k}={v}" for k, v in rule["labels"].items())]
        result = _routes_test("pagerduty-direct", labels, peer_versions)
        assert result.returncode == 0, describe(result)


def test_every_alert_routes_to_a_receiver_that_delivers(peer_versions: PeerVersions) -> None:
    receivers = {r["name"]: r for r in CONFIG["receivers"]}
    amtool = find_tool("amtool", peer_versions)
    for rule in rules_of_kind("alert"):
        labels = [f"alertname={rule['alert']}", *(f"{k}={v}" for k, v in rule["labels"].items())]
        result = run(
            [amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels]
        )
        assert result.returncode == 0, describe(result)
        for name in result.stdout.strip().split(","):
            configs = [k for k in receivers[name] if k.endswith("_configs")]
            assert configs, f"{rule['alert']} routes to {name}, which sends nothing"


# ------------------------------------------------------------------ receivers


def _receiver(name: str) -> dict[str, Any]:
    return next(r for r in CONFIG["receivers"] if r["name"] == name)


@pytest.mark.parametrize("name", ["alert-bridge", "alert-bridge-watchdog"])
def test_bridge_webhooks_are_authenticated_and_bounded(name: str) -> None:
    (webhook,) = _receiver(name)["webhook_configs"]
    assert webhook["url"] == BRIDGE_WEBHOOK
    assert 0 < webhook["max_alerts"] <= 1000, "max_alerts 0 means unbounded"
    auth = webhook["http_config"]["authorization"]
    assert auth == {"type": "Bearer", "credentials_file": TOKEN_FILE}
    # `timeout` exists only from Alertmanager 0.28; amtool 0.25 would reject it anyway.
    assert "timeout" not in webhook


def test_alerts_and_their_resolution_reach_the_bridge() -> None:
    (webhook,) = _receiver("alert-bridge")["webhook_configs"]
    assert webhook["send_resolved"] is True


def test_direct_pagerduty_route_reads_its_key_from_a_file() -> None:
    (pagerduty,) = _receiver("pagerduty-direct")["pagerduty_configs"]
    assert pagerduty["routing_key_file"] == "/etc/alertmanager/secrets/pagerduty-routing-key"
    assert "routing_key" not in pagerduty and "service_key" not in pagerduty


def test_secret_paths_match_what_compose_mounts() -> None:
    compose = load_yaml(REPO_ROOT / "docker-compose.yml")
    targets = {s["target"] for s in compose["services"]["alertmanager"]["secrets"]}
    text = ALERTMANAGER_CONFIG.read_text(encoding="utf-8")
    used = set(re.findall(r"(?:credentials_file|routing_key_file): (\S+)", text))
    assert used and used <= targets, (
        f"files the config reads but compose does not mount: {used - targets}"
    )


def _watchdog_routes() -> list[dict[str, Any]]:
    return [r for r in CONFIG["route"]["routes"] if 'alertname="Watchdog"' in r.get("matchers", [])]


def test_watchdog_routes_repeat_every_minute_and_come_first() -> None:
    routes = _watchdog_routes()
    assert [r["receiver"] for r in routes] == ["external-heartbeat", "alert-bridge-watchdog"]
    for route in routes:
        assert route["repeat_interval"] == "1m"
        assert route["group_wait"] in {"0s", "1s", "5s"}
    # First routes: nothing before them may catch the heartbeat, and the outside one
    # continues to the bridge's.
    assert CONFIG["route"]["routes"][:2] == routes
    assert routes[0]["continue"] is True


def test_the_outside_heartbeat_goes_through_the_proxy_relay_to_the_configured_service() -> None:
    (webhook,) = _receiver("external-heartbeat")["webhook_configs"]
    assert webhook["send_resolved"] is False
    relay = re.fullmatch(r"http://proxy:(\d+)/", webhook["url"])
    assert relay, webhook["url"]
    caddyfile = (REPO_ROOT / "proxy" / "Caddyfile").read_text(encoding="utf-8")
    site = caddyfile[caddyfile.index(f"http://:{relay.group(1)} {{") :]
    assert "rewrite * {$HEARTBEAT_PATH}" in site
    assert "reverse_proxy {$HEARTBEAT_ORIGIN}" in site
    compose = load_yaml(REPO_ROOT / "docker-compose.yml")
    proxy = compose["services"]["proxy"]
    # On by default: compose refuses to start until .env names the heartbeat.
    for name in ("HEARTBEAT_ORIGIN", "HEARTBEAT_PATH"):
        assert proxy["environment"][name].startswith(f"${{{name}:?")
    # The relay port is not published: only the compose network reaches it.
    assert not any(str(p).endswith(f":{relay.group(1)}") for p in proxy["ports"])


@pytest.mark.parametrize(
    "definition", ["dgx.pagerduty.description", "dgx.pagerduty.severity", "dgx.pagerduty.details"]
)
def test_templates_render(definition: str, peer_versions: PeerVersions) -> None:
    amtool = find_tool("amtool", peer_versions)
    result = run(
        [
            amtool,
            "template",
            "render",
            f"--template.glob={TEMPLATES_DIR}/*.tmpl",
            f'--template.text={{{{ template "{definition}" . }}}}',
        ]
    )
    assert result.returncode == 0, describe(result)


# ------------------------------------------------------------------ inhibitions
#
# A small model of Alertmanager's inhibition (source matchers, target matchers, `equal`
# labels equal, a missing label equal to a missing label) run on the real inhibit_rules.

_MATCHER = re.compile(r'^(\w+)\s*(=~|!~|!=|=)\s*"(.*)"$')


def _matches(matchers: list[str], labels: dict[str, str]) -> bool:
    for matcher in matchers:
        parsed = _MATCHER.match(matcher)
        assert parsed, f"unparsed matcher {matcher!r}"
        name, op, value = parsed.groups()
        actual = labels.get(name, "")
        ok = {
            "=": actual == value,
            "!=": actual != value,
            "=~": re.fullmatch(value, actual) is not None,
            "!~": re.fullmatch(value, actual) is None,
        }[op]
        if not ok:
            return False
    return True


def inhibited(target: dict[str, str], source: dict[str, str]) -> bool:
    for rule in CONFIG["inhibit_rules"]:
        if (
            _matches(rule["source_matchers"], source)
            and _matches(rule["target_matchers"], target)
            and all(source.get(k) == target.get(k) for k in rule.get("equal", []))
        ):
            return True
    return False


def _alert(name: str, **labels: str) -> dict[str, str]:
    severity = {r["alert"]: r["labels"]["severity"] for r in rules_of_kind("alert")}.get(
        name, "warning"
    )
    return {"alertname": name, "severity": severity, **labels}


NODE_DOWN = _alert("DGXSparkNodeDown", node="dgx-spark-01")


@pytest.mark.parametrize(
    "target",
    [
        _alert("GPUTemperatureCritical", node="dgx-spark-01", gpu="0"),
        _alert("GPUXIDError", node="dgx-spark-01", gpu="0", xid="79"),
        _alert("GPUMemoryHigh", node="dgx-spark-01", gpu="0", memory="unified"),
        _alert("GPUMetricsMissing", node="dgx-spark-01", metric="DCGM_FI_DEV_GPU_TEMP"),
        _alert("ExporterDown", node="dgx-spark-01", job="dcgm"),
        _alert("HighCPUUsage", node="dgx-spark-01"),
        _alert("NodeOOMKill", node="dgx-spark-01"),
    ],
    ids=lambda a: a["alertname"],
)
def test_a_down_node_mutes_the_alerts_of_that_node_only(target: dict[str, str]) -> None:
    assert inhibited(target, NODE_DOWN)
    assert not inhibited({**target, "node": "dgx-spark-02"}, NODE_DOWN)


@pytest.mark.parametrize(
    ("critical", "warning"),
    [
        ("GPUTemperatureCritical", "GPUTemperatureWarning"),
        ("GPUTemperatureCritical", "GPUThermalThrottling"),
        ("GPUMemoryExhausted", "GPUMemoryHigh"),
    ],
)
def test_critical_mutes_its_warning_twin_on_the_same_gpu_only(critical: str, warning: str) -> None:
    source = _alert(critical, node="dgx-spark-01", gpu="0", memory="framebuffer")
    assert inhibited(_alert(warning, node="dgx-spark-01", gpu="0", memory="framebuffer"), source)
    assert not inhibited(
        _alert(warning, node="dgx-spark-01", gpu="1", memory="framebuffer"), source
    )
    assert not inhibited(
        _alert(warning, node="dgx-spark-02", gpu="0", memory="framebuffer"), source
    )
    # Never the other way round.
    assert not inhibited(
        source, _alert(warning, node="dgx-spark-01", gpu="0", memory="framebuffer")
    )


def test_unified_gpu_memory_alert_mutes_the_host_memory_warning() -> None:
    host = _alert("HighMemoryUsage", node="dgx-spark-01")
    assert inhibited(host, _alert("GPUMemoryHigh", node="dgx-spark-01", gpu="0", memory="unified"))
    assert not inhibited(
        host, _alert("GPUMemoryHigh", node="dgx-spark-01", gpu="0", memory="framebuffer")
    )


def test_nothing_inhibits_the_watchdog_or_the_bridges_own_alerts() -> None:
    protected = [_alert("Watchdog"), _alert("AlertBridgeDown", route="direct")]
    sources = [_alert(r["alert"], node="dgx-spark-01", gpu="0") for r in rules_of_kind("alert")]
    for target in protected:
        for source in sources:
            assert not inhibited(target, source), (target, source)


def test_no_inhibition_mutes_its_own_source() -> None:
    for rule in CONFIG["inhibit_rules"]:
        name = re.search(r'alertname=~?"([^"]+)"', rule["source_matchers"][0])
        assert name
        for alert in name.group(1).split("|"):
            assert not _matches(rule["target_matchers"], {"alertname": alert}), rule


def test_routes_file_exists_and_has_cases() -> None:
    assert Path(ROUTES_FILE).is_file()
    assert len(ROUTE_CASES) >= 4
