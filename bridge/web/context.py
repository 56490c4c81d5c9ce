"""Everything a request handler needs, hung on the app (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from bridge.clock import Clock
from bridge.config import BridgeConfig
from bridge.metrics import BridgeMetrics
from bridge.settings import Settings
from bridge.silences.service import WindowService
from bridge.store import Store
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


EXTENSION_KEY = "alert_bridge"


def bridge_context() -> BridgeContext:
    ctx: BridgeContext = current_app.extensions[EXTENSION_KEY]
    return ctx
