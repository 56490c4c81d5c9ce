"""Maintenance windows in /metrics: how many occurrences Alertmanager holds, and how many
it refused, so that a window that cannot mute anything there pages somebody
(MaintenanceWindowNotSynced) instead of waiting for someone to open the console."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Every state an occurrence can be in, so that a state with none still reads 0 (an alert
# rule on `refused > 0` then sees 0, not an absent series).
SYNC_STATES = ("pending", "synced", "refused", "invalid", "expiring")


class WindowSyncCollector(Collector):
    """Read from the database at scrape time: every replica reports the same."""

    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            counts = self._read()
        except Exception:  # database down: /metrics must still answer
            return
        family = GaugeMetricFamily(
            "alert_bridge_window_occurrences",
            "Maintenance window occurrences not yet over, by the state of their Alertmanager "
            "silences: pending, synced, refused (a limit; retried), invalid (never retried), "
            "expiring.",
            labels=["sync_state"],
        )
        for state in dict.fromkeys((*SYNC_STATES, *sorted(counts))):
            family.add_metric([state], counts.get(state, 0))
        yield family
