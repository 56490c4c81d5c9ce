"""Acknowledgements in /metrics, read from the database at scrape time (every replica agrees).

`alert_bridge_firing_alerts{acknowledged}` counts firing alerts by whether someone is on
them; `alert_bridge_alert_acknowledged_timestamp_seconds{alertname,node,fingerprint,source}` says
when each firing alert was acknowledged and from where (slack, pagerduty; the fingerprint
keeps two alerts of one name on one node apart), and
`..._time_to_acknowledge_seconds` how long that took. Never who: metrics are scraped and
kept by whoever runs Prometheus, so people's names stay in `/alerts` and the console,
behind `BRIDGE_CONSOLE_READ_AUTH`. The Watchdog, always firing, is counted like any alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class AcknowledgementCollector(Collector):
    def __init__(self, read: Callable[[], tuple[int, list[Any]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            unacked, acked = self._read()
        except Exception:  # database down: /metrics must still answer
            return
        firing = GaugeMetricFamily(
            "alert_bridge_firing_alerts",
            "Firing alerts by whether someone acknowledged them (Slack or PagerDuty).",
            labels=["acknowledged"],
        )
        firing.add_metric(["false"], unacked)
        firing.add_metric(["true"], len(acked))
        when = GaugeMetricFamily(
            "alert_bridge_alert_acknowledged_timestamp_seconds",
            "When each firing alert was first acknowledged, and from where (Unix time).",
            labels=["alertname", "node", "fingerprint", "source"],
        )
        took = GaugeMetricFamily(
            "alert_bridge_alert_time_to_acknowledge_seconds",
            "Seconds from each firing alert's start to its first acknowledgement.",
            labels=["alertname", "node", "fingerprint", "source"],
        )
        for row in acked:
            labels = [row.alertname, row.node, row.fingerprint, row.ack_source or ""]
            when.add_metric(labels, row.acked_at.timestamp())
            took.add_metric(labels, max(0.0, (row.acked_at - row.starts_at).total_seconds()))
        yield firing
        yield when
        yield took
