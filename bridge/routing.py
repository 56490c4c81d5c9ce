"""Which channels an alert goes to: a pure function of its labels and the routes.

Default: `severity=critical` to PagerDuty and Slack, `severity=warning` to
Slack, `alertname=Watchdog` to the heartbeat, anything else recorded only.
`BRIDGE_CONFIG` may replace the routes (first match wins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PAGERDUTY = "pagerduty"
SLACK = "slack"
HEARTBEAT = "heartbeat"
CHANNELS = (PAGERDUTY, SLACK, HEARTBEAT)


@dataclass(frozen=True)
class Route:
    match: Mapping[str, str]
    channels: tuple[str, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k, "") == v for k, v in self.match.items())


@dataclass(frozen=True)
class Routing:
    routes: tuple[Route, ...] = field(
        default_factory=lambda: (
            Route({"alertname": "Watchdog"}, (HEARTBEAT,)),
            Route({"severity": "critical"}, (PAGERDUTY, SLACK)),
            Route({"severity": "warning"}, (SLACK,)),
        )
    )

    def route(self, labels: Mapping[str, str]) -> Route | None:
        for candidate in self.routes:
            if candidate.matches(labels):
                return candidate
        return None

    def channels_for(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        found = self.route(labels)
        return found.channels if found else ()


class RoutingError(ValueError):
    pass


ROUTE_KEYS = frozenset({"match", "channels"})


def routing_from_config(raw: Sequence[object]) -> Routing:
    """Routes from the `routes:` list of `BRIDGE_CONFIG`."""
    routes: list[Route] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise RoutingError(f"routes[{i}]: must be a mapping")
        match = item.get("match", {})
        channels = item.get("channels", [])
        if not isinstance(match, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in match.items()
        ):
            raise RoutingError(f"routes[{i}].match: must map label names to strings")
        if not isinstance(channels, list) or any(c not in CHANNELS for c in channels):
            raise RoutingError(f"routes[{i}].channels: must be a list of {', '.join(CHANNELS)}")
        if "slack_channel" in item:
            raise RoutingError(
                f"routes[{i}].slack_channel: per-route Slack channels are not supported: every "
                "Slack message goes to BRIDGE_SLACK_CHANNEL; remove the key"
            )
        unknown = sorted(str(k) for k in set(item) - ROUTE_KEYS)
        if unknown:
            # A misspelt key would otherwise be ignored and the route silently do less.
            raise RoutingError(f"routes[{i}]: unknown keys {unknown} (a route has match, channels)")
        routes.append(Route(dict(match), tuple(channels)))
    return Routing(tuple(routes))
