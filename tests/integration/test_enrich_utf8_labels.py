"""UTF-8 label names (Prometheus 3's default) reach the enrichment's PromQL, on a real Prometheus.

Prometheus 3 accepts label names such as OpenTelemetry's `host.name`; PromQL quotes them on
the selector side (`{"host.name"="dgx-spark-01"}`). An enrichment query written that way must
get the alert's `host.name` value. Prometheus 2 refuses such names (in rules, in PromQL), so
this runs on the newest end of the supported range only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bridge.enrich.config import parse_enrichment
from bridge.enrich.prometheus import PrometheusClient
from bridge.enrich.service import Enricher
from tests.support.peers import PeerVersions
from tests.support.procs import Proc, free_port, wait_until
from tests.support.stack_procs import prom_query, start_prometheus

pytestmark = [pytest.mark.slow, pytest.mark.peer_ends("newest")]

# A recording rule gives a series with UTF-8 label names, as an OpenTelemetry-fed Prometheus
# has them: no exporter needed.
RULES = """
groups:
  - name: utf8
    interval: 1s
    rules:
      - record: host_temperature_celsius
        expr: vector(87)
        labels:
          host.name: dgx-spark-01
          app.kubernetes.io/name: 'vllm "main"'
"""
HOST_TEMPERATURE = 'max(host_temperature_celsius{"host.name"="{host.name}"})'
BOTH_LABELS = (
    'max(host_temperature_celsius{"host.name"="{host.name}",'
    '"app.kubernetes.io/name"="{app.kubernetes.io/name}"})'
)


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, peer_versions: PeerVersions
) -> Iterator[Proc]:
    tmp = tmp_path_factory.mktemp("prometheus-utf8")
    config_dir = tmp / "config"
    config_dir.mkdir()
    (config_dir / "rules.yml").write_text(RULES, encoding="utf-8")
    (config_dir / "prometheus.yml").write_text(
        f"global:\n  evaluation_interval: 1s\nrule_files: ['{config_dir / 'rules.yml'}']\n",
        encoding="utf-8",
    )
    with start_prometheus(config_dir, tmp, free_port(), peers=peer_versions) as prom:
        wait_until(
            lambda: prom_query(prom.url, "host_temperature_celsius")["result"],
            timeout=60,
            what="the recording rule's first sample",
            procs=[prom],
        )
        yield prom


def enrich(prometheus: Proc, queries: dict[str, str], labels: dict[str, str]) -> dict[str, Any]:
    config = parse_enrichment({"alerts": {"HostHot": {"queries": queries, "chart": False}}})
    enricher = Enricher(PrometheusClient(prometheus.url), config, budget=10.0)
    return enricher.enrich_alert({"alertname": "HostHot", "severity": "critical", **labels}, {})


def test_a_query_on_a_utf8_label_name_gets_the_alerts_value(prometheus: Proc) -> None:
    context = enrich(
        prometheus,
        {"host temperature": HOST_TEMPERATURE},
        {"host.name": "dgx-spark-01"},
    )
    assert context["_missing"] == []
    assert context["host temperature"] == "87"


def test_utf8_names_and_a_value_with_quotes_select_exactly_the_series(prometheus: Proc) -> None:
    labels = {"host.name": "dgx-spark-01", "app.kubernetes.io/name": 'vllm "main"'}
    context = enrich(prometheus, {"both": BOTH_LABELS}, labels)
    assert context["both"] == "87"
    # Another host's alert finds no series: the value selected, not the name's absence.
    other = enrich(prometheus, {"both": BOTH_LABELS}, {**labels, "host.name": "dgx-spark-02"})
    assert "both" not in other
    assert [m["what"] for m in other["_missing"]] == ["both"]


def test_an_alert_without_the_utf8_label_skips_the_query_saying_why(prometheus: Proc) -> None:
    context = enrich(prometheus, {"host temperature": HOST_TEMPERATURE}, {"node": "n1"})
    assert "host temperature" not in context
    (missing,) = context["_missing"]
    assert missing["what"] == "host temperature"
    assert "host.name" in missing["why"]
