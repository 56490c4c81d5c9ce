"""The shipped monitoring stack, live, against the simulator.

The repository's own prometheus.yml, recording and alerting rules, alertmanager.yml and
Grafana dashboards run on the real `prometheus` and `prometheus-alertmanager` binaries, at both
ends of the supported range (the `peer_versions` fixture: one stack per end). Only
what cannot work here is changed, in temp copies (tests/support/procs.py): targets point at
the simulator, intervals are 1 s, every `for:` is 5 s, and every receiver posts to a recorder
in this process. Then:

(a) every recording rule has data for both GPU flavours (GB10 and a framebuffer GPU);
(b) every dashboard query is valid PromQL, and the GPU and node ones return data;
(c) each injected fault fires the matching alert, which reaches Alertmanager and the
    receiver its routing tree names (or is inhibited, as the tree says).

The simulator's node 01 is a GB10 serving vLLM's current metric names, node 02 a datacenter
GPU serving vLLM 0.10's names, so queries must handle both kinds of each.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.peers import PeerVersions
from tests.support.procs import REPO_ROOT, Proc, free_port, require_binary, wait_until
from tests.support.stack_config import (
    ALERTMANAGER_CONFIG,
    PROMETHEUS_DIR,
    AlertmanagerTestConfig,
    alertmanager_test_config,
    prometheus_test_config,
)
from tests.support.stack_procs import (
    SimulatorProc,
    am_alerts,
    prom_alerts,
    prom_query,
    start_alertmanager,
    start_prometheus,
    start_simulator,
)
from tests.support.webhook_recorder import WebhookRecorder

pytestmark = pytest.mark.slow

GB10_NODE, DC_NODE = "dgx-spark-01", "dgx-spark-02"
NODES = {GB10_NODE, DC_NODE}
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
DASHBOARDS_DIR = REPO_ROOT / "grafana" / "dashboards"

# Alerts need: a few scrapes, `for: 5s`, Alertmanager's group_wait, one delivery. A minute is
# several times that; a slow CI box should still pass.
TIMEOUT = 60.0


# -- the stack ---------------------------------------------------------------------------------


@dataclass
class Stack:
    sim: SimulatorProc
    prometheus: Proc
    alertmanager: Proc
    receiver: WebhookRecorder
    am_config: AlertmanagerTestConfig
    peers: PeerVersions

    @property
    def procs(self) -> list[Proc]:
        return [self.sim, self.prometheus, self.alertmanager]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = prom_query(self.prometheus.url, expr)["result"]
        return result

    def wait(self, probe: Any, what: str, timeout: float = TIMEOUT) -> Any:
        return wait_until(probe, timeout=timeout, what=what, procs=self.procs)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, peer_versions: PeerVersions) -> Iterator[Stack]:
    require_binary("prometheus", peer_versions)
    require_binary("prometheus-alertmanager", peer_versions)
    missing = [
        p
        for p in (PROMETHEUS_DIR / "prometheus.yml", *RULE_FILES, ALERTMANAGER_CONFIG)
        if not p.exists()
    ]
    if missing or not RULE_FILES:
        pytest.fail(f"the stack's configuration is incomplete: missing {missing or 'rules'}")
    tmp = tmp_path_factory.mktemp("stack")
    targets = tmp / "sim-targets"
    with contextlib.ExitStack() as cleanup:
        receiver = cleanup.enter_context(WebhookRecorder())
        sim = cleanup.enter_context(
            start_simulator(
                tmp,
                targets_dir=targets,
                extra_args=["--vllm-names=v1,legacy", "--xid-window=2m"],
            )
        )
        prom_port, am_port = free_port(), free_port()
        while am_port == prom_port:
            am_port = free_port()
        am_config = alertmanager_test_config(tmp / "alertmanager", webhook_base_url=receiver.url)
        alertmanager = cleanup.enter_context(
            start_alertmanager(am_config.path, tmp, am_port, peers=peer_versions)
        )
        prom_dir = prometheus_test_config(
            tmp / "prometheus",
            targets,
            prometheus_port=prom_port,
            alertmanager_ports=[am_port],
            # The recorder serves a /metrics page, so AlertBridgeDown stays quiet.
            static_targets={"alert-bridge": f"127.0.0.1:{receiver.port}"},
        )
        prometheus = cleanup.enter_context(
            start_prometheus(prom_dir, tmp, prom_port, peers=peer_versions)
        )
        yield Stack(sim, prometheus, alertmanager, receiver, am_config, peer_versions)


@pytest.fixture(scope="module")
def scraping(stack: Stack) -> Stack:
    """The stack once every simulated exporter has been scraped at least twice (rates work)."""

    def all_up() -> bool:
        up = stack.query('up{job=~"dcgm|node|vllm|spark"} == 1')
        if {(r["metric"]["job"], r["metric"]["node"]) for r in up} != {
            (job, node) for job in ("dcgm", "node", "vllm", "spark") for node in NODES
        }:
            return False
        return bool(stack.query("node:cpu_utilization:avg"))

    stack.wait(all_up, "every simulated exporter to be up")
    return stack


# -- (a) recording rules -----------------------------------------------------------------------


def _rules(kind: str) -> list[dict[str, Any]]:
    rules = []
    for path in RULE_FILES:
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            rules += [rule for rule in group.get("rules", []) if kind in rule]
    return rules


RECORDING_RULES = [rule["record"] for rule in _rules("record")]


@pytest.mark.parametrize("record", RECORDING_RULES)
def test_recording_rule_has_data_for_both_gpu_flavours(scraping: Stack, record: str) -> None:
    def result() -> list[dict[str, Any]]:
        return scraping.query(record)

    series = scraping.wait(result, f"{record} to have data")
    nodes = {s["metric"].get("node") for s in series}
    if nodes != {None}:  # a per-node or per-GPU rule: both kinds of node must be there
        scraping.wait(
            lambda: {s["metric"].get("node") for s in result()} >= NODES,
            f"{record} to have a series for each of {sorted(NODES)}",
        )
    if any("memory" in s["metric"] for s in series):
        memory = {s["metric"]["node"]: s["metric"]["memory"] for s in result()}
        # GB10 has no framebuffer series: its GPU memory is the node's unified memory.
        assert memory == {GB10_NODE: "unified", DC_NODE: "framebuffer"}


# -- (b) dashboards ----------------------------------------------------------------------------

# What Grafana substitutes before a query reaches Prometheus, for a 1 h dashboard range.
_BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")
_MATCHER_WITH_VARIABLE = re.compile(r'(\w+)\s*(=|!=)\s*"([^"]*(?:\$|\[\[)[^"]*)"')


def concrete(expr: str) -> str:
    """`expr` as Grafana would send it with every variable set to "All" (`.*`)."""

    def builtin_or_all(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return _BUILTINS.get(name, ".*")

    def as_regex(match: re.Match[str]) -> str:
        # label="$node" with "All" selected must become a regex match to select anything.
        label, op, value = match.groups()
        return f'{label}{"=~" if op == "=" else "!~"}"{value}"'

    expr = _MATCHER_WITH_VARIABLE.sub(as_regex, expr)
    return _VARIABLE.sub(builtin_or_all, expr)


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    expr: str

    @property
    def id(self) -> str:
        return f"{self.dashboard}:{self.panel}:{self.expr[:40]}"


def _panels(node: Any) -> Iterator[dict[str, Any]]:
    # Rows nest panels (collapsed rows keep them under the row's own `panels`).
    if isinstance(node, dict):
        if "targets" in node and "type" in node:
            yield node
        for child in node.get("panels", []):
            yield from _panels(child)
    elif isinstance(node, list):
        for child in node:
            yield from _panels(child)


def _panel_queries() -> list[PanelQuery]:
    queries = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in _panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr") and not target.get("hide"):
                    queries.append(PanelQuery(path.stem, panel.get("title", "?"), target["expr"]))
    return queries


PANEL_QUERIES = _panel_queries()

# Queries on what the simulator exports (DCGM, node exporter, vLLM, Spark) and on the
# recording rules must return data; others (the bridge's own metrics, ALERTS, Prometheus's)
# only need to be valid PromQL here.
_SIMULATED = re.compile(r"DCGM_|node_|vllm:|metrics_|\b(?:gpu|node|cluster):\w+:")
# Series that exist only while something is wrong: a healthy simulated cluster has none.
_EMPTY_WHEN_HEALTHY = re.compile(r"DCGM_EXP_(?:XID_ERRORS|CLOCK_EVENTS)_COUNT|ALERTS")
# Series of hardware a DGX Spark does not have: panels on them show only the datacenter GPU.
_DATACENTER_ONLY = re.compile(r"NVLINK|DCGM_FI_DEV_FB_")


def test_there_are_dashboards_with_queries() -> None:
    dashboards = {q.dashboard for q in PANEL_QUERIES}
    assert len(dashboards) >= 3, f"expected the three dashboards, found {sorted(dashboards)}"


@pytest.mark.parametrize("query", PANEL_QUERIES, ids=lambda q: q.id)
def test_dashboard_query_is_valid_and_has_data(scraping: Stack, query: PanelQuery) -> None:
    expr = concrete(query.expr)
    series = scraping.query(expr)  # raises unless Prometheus accepts the PromQL
    if not _SIMULATED.search(expr) or _EMPTY_WHEN_HEALTHY.search(expr):
        return
    if not series:
        # Rate windows need a minute of data; give them the time, then insist.
        series = scraping.wait(lambda: scraping.query(expr), f"data for {expr!r}")
    nodes = {s["metric"].get("node") for s in series}
    if None not in nodes and not _DATACENTER_ONLY.search(expr):
        scraping.wait(
            lambda: {s["metric"].get("node") for s in scraping.query(expr)} >= NODES,
            f"{expr!r} to show both nodes (a GB10 and a framebuffer GPU)",
        )


def test_grafana_variables_become_regex_matchers() -> None:
    assert (
        concrete('rate(x{node="$node",gpu=~"${gpu}"}[$__rate_interval])')
        == 'rate(x{node=~".*",gpu=~".*"}[1m])'
    )
    assert concrete("sum_over_time(x[$__range])") == "sum_over_time(x[1h])"


# -- (c) faults --------------------------------------------------------------------------------


def _matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def routed_receivers(config: Path, labels: dict[str, str], peers: PeerVersions) -> set[str]:
    """The receivers alertmanager.yml's routing tree picks for `labels` (amtool's answer)."""
    amtool = require_binary("amtool", peers)
    out = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config}"]
        + [f"{k}={v}" for k, v in sorted(labels.items())],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return {name for name in out.strip().split(",") if name}


def _receiver_kinds(config: Path) -> dict[str, list[str]]:
    receivers = yaml.safe_load(config.read_text()).get("receivers", [])
    return {r["name"]: [k for k in r if k.endswith("_configs")] for r in receivers}


@dataclass(frozen=True)
class Delivery:
    alert: dict[str, Any]  # as Alertmanager holds it
    receivers: set[str]  # where the routing tree sends it; empty when inhibited


def assert_fires_and_is_delivered(stack: Stack, alertname: str, **labels: str) -> Delivery:
    """Wait for `alertname` with `labels` to fire in Prometheus, reach Alertmanager, and (unless
    Alertmanager inhibits it) arrive at each receiver the routing tree names."""
    wanted = {"alertname": alertname, **labels}

    def firing() -> dict[str, Any] | None:
        return next(
            (
                a
                for a in prom_alerts(stack.prometheus.url)
                if a["state"] == "firing" and _matches(a["labels"], wanted)
            ),
            None,
        )

    stack.wait(firing, f"{wanted} to fire in Prometheus")

    def in_alertmanager() -> dict[str, Any] | None:
        alerts = am_alerts(stack.alertmanager.url, alertname=alertname)
        return next((a for a in alerts if _matches(a["labels"], wanted)), None)

    alert: dict[str, Any] = stack.wait(in_alertmanager, f"{wanted} in Alertmanager")
    if alert["status"]["state"] == "suppressed":
        assert alert["status"]["inhibitedBy"] or alert["status"]["silencedBy"], alert
        return Delivery(alert, set())

    receivers = routed_receivers(stack.am_config.path, alert["labels"], stack.peers)
    kinds = _receiver_kinds(stack.am_config.path)
    for receiver in receivers:
        if kinds.get(receiver):  # a receiver without configs drops alerts on purpose
            stack.wait(
                _delivered(stack.receiver, receiver, kinds[receiver][0], alert),
                f"{wanted} to be sent to receiver {receiver} ({kinds[receiver][0]})",
            )
    return Delivery(alert, receivers)


def _instant(timestamp: str) -> datetime:
    # Alertmanager's API writes milliseconds, its webhook nanoseconds: compare at microseconds.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", timestamp).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed)


def _delivered(
    recorder: WebhookRecorder, receiver: str, kind: str, alert: dict[str, Any]
) -> Callable[[], bool]:
    """Whether `receiver` got this very alert (same fingerprint and start), not an earlier one."""
    started = _instant(alert["startsAt"])

    def webhook() -> bool:
        return any(
            posted["_receiver"] == receiver
            and posted["status"] == "firing"
            and posted["fingerprint"] == alert["fingerprint"]
            and abs(_instant(posted["startsAt"]) - started) < timedelta(milliseconds=1)
            for posted in recorder.alerts()
        )

    def other() -> bool:
        # PagerDuty and Slack bodies differ; the alert name is in either.
        path = f"/{kind.removesuffix('_configs')}/{receiver}"
        name = alert["labels"]["alertname"]
        return any(name in json.dumps(r.body) for r in recorder.received(path))

    return webhook if kind == "webhook_configs" else other


def _firing_names(stack: Stack) -> set[str]:
    return {
        a["labels"]["alertname"]
        for a in prom_alerts(stack.prometheus.url)
        if a["state"] == "firing"
    }


@pytest.fixture
def healthy(scraping: Stack) -> Iterator[Stack]:
    """A stack with no fault, given back with no fault and no alert but the Watchdog."""
    yield scraping
    scraping.sim.clear()
    scraping.wait(
        lambda: _firing_names(scraping) <= {"Watchdog"}, "alerts to resolve after clearing"
    )


def test_a_healthy_cluster_fires_nothing_but_the_watchdog(healthy: Stack) -> None:
    delivery = assert_fires_and_is_delivered(healthy, "Watchdog")
    assert delivery.receivers, "the Watchdog must reach the dead man's switch"
    # Ten seconds (ten evaluations) in a row without any other alert, pending or firing:
    # with `for: 5s` a flapping rule would show up here. This takes about a minute, not ten
    # seconds: node:cpu_utilization:avg is 1 - rate(idle[5m]), and while a new series has
    # less than 5 minutes of samples rate() divides its increase by the whole window, so CPU
    # reads ~100 % at first and HighCPUUsage fires until ~45 s of samples (in production
    # its `for: 15m` hides this; dashboards show the spike).
    healthy.wait(
        lambda: not healthy.query('count_over_time(ALERTS{alertname!="Watchdog"}[10s])'),
        "ten seconds without any alert but the Watchdog",
    )


def test_webhooks_carry_the_bearer_token(healthy: Stack) -> None:
    assert_fires_and_is_delivered(healthy, "Watchdog")
    posts = [
        r
        for r in healthy.receiver.received("/webhook/alertmanager")
        if isinstance(r.body, dict) and "alerts" in r.body
    ]
    assert posts
    config = yaml.safe_load(healthy.am_config.path.read_text())
    uses_bearer = any(
        (w.get("http_config") or {}).get("authorization")
        for r in config.get("receivers", [])
        for w in r.get("webhook_configs", [])
    )
    if uses_bearer:
        assert {p.headers.get("Authorization") for p in posts} == {
            f"Bearer {healthy.am_config.token}"
        }


def test_the_watchdog_also_reaches_the_outside_heartbeat_without_the_bridge_token(
    healthy: Stack,
) -> None:
    # external-heartbeat posts to the proxy's relay (its path "/" here); the bridge's token
    # must not travel to a service outside.
    assert_fires_and_is_delivered(healthy, "Watchdog")
    pings = [
        r
        for r in healthy.receiver.received("/")
        if isinstance(r.body, dict) and r.body.get("receiver") == "external-heartbeat"
    ]
    assert pings, "no Watchdog for the outside heartbeat"
    assert {a["labels"]["alertname"] for p in pings for a in p.body["alerts"]} == {"Watchdog"}
    assert all("Authorization" not in p.headers for p in pings)


def test_overheat_fires_the_temperature_alerts(healthy: Stack) -> None:
    healthy.sim.inject(GB10_NODE, "overheat", value=92)
    critical = assert_fires_and_is_delivered(
        healthy, "GPUTemperatureCritical", node=GB10_NODE, gpu="0"
    )
    assert critical.receivers, "a critical alert must reach someone"
    assert_fires_and_is_delivered(healthy, "GPUTemperatureWarning", node=GB10_NODE, gpu="0")


def test_memory_pressure_on_gb10_fires_the_gpu_memory_alerts(healthy: Stack) -> None:
    healthy.sim.inject(GB10_NODE, "memory_pressure", value=97)
    assert_fires_and_is_delivered(healthy, "GPUMemoryExhausted", node=GB10_NODE, memory="unified")
    assert_fires_and_is_delivered(healthy, "GPUMemoryHigh", node=GB10_NODE)
    # The GPU's memory is the node's memory on GB10: alertmanager.yml mutes the host warning.
    host = assert_fires_and_is_delivered(healthy, "HighMemoryUsage", node=GB10_NODE)
    assert host.alert["status"]["state"] == "suppressed"


def test_xid_79_fires_gpu_xid_error_with_the_code(healthy: Stack) -> None:
    healthy.sim.inject(GB10_NODE, "xid", code=79)
    assert_fires_and_is_delivered(healthy, "GPUXIDError", node=GB10_NODE, xid="79")


def test_a_dead_dcgm_exporter_fires_exporter_down(healthy: Stack) -> None:
    healthy.sim.inject(DC_NODE, "exporter_down", exporter="dcgm")
    healthy.wait(
        lambda: healthy.query(f'up{{job="dcgm",node="{DC_NODE}"}} == 0'),
        "Prometheus to see the DCGM exporter down",
    )
    assert_fires_and_is_delivered(healthy, "ExporterDown", node=DC_NODE, job="dcgm")


def test_a_dead_node_fires_node_down(healthy: Stack) -> None:
    healthy.sim.inject(DC_NODE, "node_down")
    assert_fires_and_is_delivered(healthy, "DGXSparkNodeDown", node=DC_NODE)


@pytest.mark.parametrize(
    ("node", "fault", "params", "alertname", "labels"),
    [
        pytest.param(
            DC_NODE,
            "memory_pressure",
            {},
            "GPUMemoryExhausted",
            {"memory": "framebuffer"},
            id="framebuffer-full",
        ),
        pytest.param(
            GB10_NODE,
            "throttle",
            {"value": 0x40},
            "GPUThermalThrottling",
            {"gpu": "0"},
            id="hw-thermal-slowdown",
        ),
        pytest.param(
            DC_NODE,
            "throttle",
            {"value": 0x80},
            "GPUHardwareSlowdown",
            {"gpu": "0"},
            id="hw-power-brake",
        ),
        pytest.param(DC_NODE, "underutilized", {}, "GPUUnderutilized", {"gpu": "0"}, id="idle-gpu"),
    ],
)
def test_other_faults_fire_their_alerts(
    healthy: Stack,
    node: str,
    fault: str,
    params: dict[str, object],
    alertname: str,
    labels: dict[str, str],
) -> None:
    healthy.sim.inject(node, fault, **params)
    assert_fires_and_is_delivered(healthy, alertname, node=node, **labels)
