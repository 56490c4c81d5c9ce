"""What every process of the bridge shares: settings, store, metrics, windows, the clock.

A plain object, no Flask: the web side hangs it on the app (bridge/web/context.py),
the delivery side hands it to the scheduled jobs (bridge/jobs.py). `wake` is how
either side says "outbox rows were committed": the delivery worker in its own
process, the link to the delivery process in the web process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bridge.clock import Clock, utcnow
from bridge.config import BridgeConfig, load_config
from bridge.db.engine import make_engine
from bridge.flapping import FlapLimits
from bridge.metrics import BridgeMetrics
from bridge.settings import Settings
from bridge.silences.alertmanager import AlertmanagerClient
from bridge.silences.service import WindowService
from bridge.store import Store
from bridge.storms import StormLimits

Wake = Callable[[int | None], None]


def _nobody_to_wake(_jobs: int | None = None) -> None:
    """Until a delivery side is attached, committed rows wait for the next poll."""


def _no_reconcile() -> None:
    """No scheduler in this process (or reconciliation is off): the next round will do."""


@dataclass
class Services:
    settings: Settings
    config: BridgeConfig
    store: Store
    metrics: BridgeMetrics
    clock: Clock
    windows: WindowService
    started_at: datetime
    wake: Wake = field(default=_nobody_to_wake)
    # A webhook was cut (truncatedAlerts): reconcile with Alertmanager now (bridge/reconcile).
    reconcile_now: Callable[[], None] = field(default=_no_reconcile)

    @property
    def flap_limits(self) -> FlapLimits:
        return FlapLimits(
            max_changes=self.settings.flap_max_changes,
            window=timedelta(seconds=self.settings.flap_window_seconds),
            stable=timedelta(seconds=self.settings.flap_stable_seconds),
        )

    @property
    def storm_limits(self) -> StormLimits:
        return StormLimits(
            max_changes=self.settings.storm_max_changes,
            window=timedelta(seconds=self.settings.storm_window_seconds),
            fold=self.settings.storm_fold,
        )


def build_services(
    settings: Settings,
    *,
    store: Store | None = None,
    config: BridgeConfig | None = None,
    clock: Clock = utcnow,
    alertmanager: AlertmanagerClient | None = None,
    metrics: BridgeMetrics | None = None,
) -> Services:
    store = store or Store(make_engine(settings.database_url), settings.pagerduty_events_per_minute)
    return Services(
        settings=settings,
        config=config or load_config(settings.config_path),
        store=store,
        metrics=metrics or BridgeMetrics(),
        clock=clock,
        windows=WindowService(store.engine, settings.alertmanager_urls, clock, alertmanager),
        started_at=clock(),
    )
