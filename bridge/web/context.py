"""Everything a request handler needs, hung on the app (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from bridge.clock import Clock
from bridge.config import BridgeConfig
from bridge.flapping import FlapLimits
from bridge.metrics import BridgeMetrics
from bridge.settings import Settings
from bridge.silences.service import WindowService
from bridge.store import Store
from bridge.storms import StormLimits
from bridge.worker import DeliveryWorker


@dataclass
class BridgeContext:
    settings: Settings
    config: BridgeConfig
    store: Store
    metrics: BridgeMetrics
    worker: DeliveryWorker
    clock: Clock
    windows: WindowService
    started_at: datetime

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


EXTENSION_KEY = "alert_bridge"


def bridge_context() -> BridgeContext:
    ctx: BridgeContext = current_app.extensions[EXTENSION_KEY]
    return ctx
