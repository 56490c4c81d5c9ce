"""The stack's self-monitoring rules (group dgx-spark-stack.alerts) read series that real
Prometheus and Alertmanager expose: a rule on a misspelt or missing metric never fires,
and promtool tests with made-up input cannot notice that. Prometheus (with a size limit,
as docker-compose.yml runs it, and the repository's rules loaded) scrapes itself and a real
Alertmanager; then each rule's expression without its threshold has data (so the rule can
fire), and with it, nothing fires on this healthy pair."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.stack.helpers import RULES_DIR, load_yaml
from tests.support.peers import PeerVersions
from tests.support.procs import free_port, wait_until
from tests.support.stack_procs import prom_query, start_alertmanager, start_prometheus

GROUP = "dgx-spark-stack.alerts"


def _stack_rules() -> list[dict[str, Any]]:
    rules = load_yaml(RULES_DIR / "alerting-rules.yml")
    (group,) = [g for g in rules["groups"] if g["name"] == GROUP]
    return list(group["rules"])


def _without_threshold(expr: str) -> str:
    """`<value> > 0.9` -> `<value>`: what the rule compares."""
    found = re.fullmatch(r"(.*\S)\s*(?:>|<|==)\s*[\d.]+\s*", expr, re.S)
    assert found, f"no trailing threshold in {expr!r}"
    return found.group(1)


def test_every_stack_rule_has_data_on_real_prometheus_and_alertmanager(
    tmp_path: Path, peer_versions: PeerVersions
) -> None:
    # Both ends of the range: the metric names these rules read are the peers' own.
    rules = _stack_rules()
    assert {r["alert"] for r in rules} >= {
        "PrometheusRuleEvaluationFailures",
        "PrometheusConfigReloadFailed",
        "AlertmanagerConfigReloadFailed",
        "PrometheusStorageFilling",
        "AlertmanagerPagerDutyFailing",
    }

    prom_port, am_port = free_port(), free_port()
    config = tmp_path / "prometheus"
    config.mkdir()
    (config / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: ['{RULES_DIR}/*.yml']\n"
        "scrape_configs:\n"
        f"  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{prom_port}']}}]\n"
        f"  - job_name: alertmanager\n    static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n"
    )
    am_config = tmp_path / "am.yml"
    am_config.write_text("route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n")
    with (
        start_alertmanager(am_config, tmp_path, am_port, peers=peer_versions),
        start_prometheus(
            config,
            tmp_path,
            prom_port,
            ["--storage.tsdb.retention.size=1GB"],
            peers=peer_versions,
        ) as prom,
    ):
        wait_until(
            lambda: (
                len(prom_query(prom.url, 'up{job=~"prometheus|alertmanager"} == 1')["result"]) == 2
            ),
            timeout=60,
            what="both targets scraped",
            procs=[prom],
        )
        for rule in rules:
            values = _without_threshold(rule["expr"])
            wait_until(
                lambda values=values: prom_query(prom.url, values)["result"],
                timeout=30,
                what=f"data for {rule['alert']}: {values}",
                procs=[prom],
            )
            # The healthy pair: the rule is quiet.
            assert prom_query(prom.url, rule["expr"])["result"] == [], rule["alert"]
