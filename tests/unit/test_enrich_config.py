"""The `enrichment:` section of BRIDGE_CONFIG: strict validation, clear messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.config import ConfigError, load_config
from bridge.enrich.config import EnrichmentConfigError, QueryOverride, parse_enrichment
from bridge.enrich.plan import plan_for


def test_no_section_means_built_in_defaults() -> None:
    config = parse_enrichment(None)
    assert config.enabled and config.cache_ttl == 30.0 and config.alerts == {}


def test_a_full_section_is_read() -> None:
    config = parse_enrichment(
        {
            "enabled": True,
            "query_timeout": "1500ms",
            "cache_ttl": "10s",
            "tcp_timeout": "500ms",
            "alerts": {
                "GPUTemperatureCritical": {
                    "queries": {
                        "inlet": {"expr": 'max(inlet{node="{node}"})', "unit": "celsius"},
                        "power draw": 'max(p{node="{node}"})',
                    }
                },
                "MyAlert": {
                    "family": "gpu_memory",
                    "defaults": False,
                    "key": "inlet",
                    "chart": {"expr": 'x{node="{node}"}', "unit": "percent", "threshold": 80},
                },
            },
        }
    )
    assert config.query_timeout == 1.5 and config.cache_ttl == 10.0 and config.tcp_timeout == 0.5
    temp = config.alerts["GPUTemperatureCritical"]
    assert temp.queries == (
        QueryOverride("inlet", 'max(inlet{node="{node}"})', "celsius"),
        QueryOverride("power draw", 'max(p{node="{node}"})'),
    )
    mine = config.alerts["MyAlert"]
    assert (mine.family, mine.defaults, mine.key) == ("gpu_memory", False, "inlet")
    assert mine.chart is not None and mine.chart.threshold == 80.0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"enable": True}, "unknown keys ['enable']"),
        ({"enabled": "yes"}, "enrichment.enabled: must be true or false"),
        ({"query_timeout": "fast"}, "enrichment.query_timeout"),
        ({"alerts": []}, "enrichment.alerts: must be a mapping"),
        ({"alerts": {"A": {"family": "gpu"}}}, "enrichment.alerts.A.family: 'gpu' is not one of"),
        ({"alerts": {"A": {"queries": {"q": "up{node={node}}"}}}}, "must stand inside a double"),
        ({"alerts": {"A": {"queries": {"q": {"expr": "up", "unit": "kelvin"}}}}}, "'kelvin'"),
        ({"alerts": {"A": {"queries": {"q": {"unit": "celsius"}}}}}, "expr is required"),
        ({"alerts": {"A": {"queries": {"_x": "up"}}}}, "names starting with _ replace"),
        ({"alerts": {"A": {"chart": {"expr": "up", "threshold": "high"}}}}, "must be a number"),
        ({"alerts": {"A": {"defaults": 1}}}, "defaults: must be true or false"),
    ],
)
def test_mistakes_are_refused_naming_the_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(EnrichmentConfigError) as error:
        parse_enrichment(section)
    assert message in str(error.value)


def test_a_family_input_may_be_replaced_by_its_underscore_name() -> None:
    config = parse_enrichment(
        {"alerts": {"GPUMemoryHigh": {"queries": {"_mem_total": 'max(t{node="{node}"})'}}}}
    )
    plan = plan_for({"alertname": "GPUMemoryHigh", "node": "n", "gpu": "0"}, {}, config)
    (total,) = [pq for pq in plan.queries if pq.query.name == "_mem_total"]
    assert total.expr == 'max(t{node="n"})'
    assert total.query.feeds == "GPU memory"  # the built-in's role is kept


def test_bridge_config_reports_enrichment_mistakes_as_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yml"
    path.write_text("enrichment:\n  alerts:\n    A:\n      queries:\n        q: 'up{x={node}}'\n")
    with pytest.raises(ConfigError, match=r"BRIDGE_CONFIG: enrichment\.alerts\.A\.queries\.q"):
        load_config(str(path))


def test_bridge_config_carries_the_parsed_section(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yml"
    path.write_text("enrichment:\n  enabled: false\n")
    assert load_config(str(path)).enrichment.enabled is False


def test_bridge_config_refuses_a_windows_key_that_nothing_would_read(tmp_path: Path) -> None:
    # Windows are made through /silences; a `windows:` section used to be accepted and ignored.
    path = tmp_path / "bridge.yml"
    path.write_text("windows:\n  - matchers: {node: dgx-spark-01}\n")
    with pytest.raises(ConfigError, match=r"unknown keys \['windows'\]"):
        load_config(str(path))
