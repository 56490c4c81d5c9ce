"""`BRIDGE_CONFIG`: optional YAML for what environment variables express badly.

```yaml
routes:            # first match wins; replaces the default routes
  - match: {alertname: Watchdog}
    channels: [heartbeat]
  - match: {severity: critical}
    channels: [pagerduty, slack]
enrichment:        # Prometheus context per alertname; see bridge/enrich/config.py
  alerts:
    GPUTemperatureCritical:
      queries:
        inlet temperature: 'max(ipmi_temperature_celsius{node="{node}"})'
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bridge.digest.config import DigestConfigError, validate_digest
from bridge.enrich.config import EnrichmentConfig, EnrichmentConfigError, parse_enrichment
from bridge.routing import Routing, RoutingError, routing_from_config

# Maintenance windows are made through /silences (and stored in the database), not here.
KNOWN_KEYS = {"routes", "enrichment", "digest"}


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class BridgeConfig:
    routing: Routing = field(default_factory=Routing)
    enrichment: EnrichmentConfig = field(default_factory=EnrichmentConfig)
    raw: dict[str, Any] = field(default_factory=dict)


def load_config(path: str | None) -> BridgeConfig:
    if not path:
        return BridgeConfig()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"BRIDGE_CONFIG: cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("BRIDGE_CONFIG: the top level must be a mapping")
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise ConfigError(f"BRIDGE_CONFIG: unknown keys {sorted(unknown)}")
    routing = Routing()
    if "routes" in data:
        if not isinstance(data["routes"], list):
            raise ConfigError("BRIDGE_CONFIG: routes must be a list")
        try:
            routing = routing_from_config(data["routes"])
        except RoutingError as exc:
            raise ConfigError(f"BRIDGE_CONFIG: {exc}") from None
    try:
        enrichment = parse_enrichment(data.get("enrichment"))
    except EnrichmentConfigError as exc:
        raise ConfigError(f"BRIDGE_CONFIG: {exc}") from None
    try:
        validate_digest(data.get("digest"))
    except DigestConfigError as exc:
        raise ConfigError(f"BRIDGE_CONFIG: {exc}") from None
    return BridgeConfig(routing=routing, enrichment=enrichment, raw=data)
