"""The Flask app factory. Nothing starts at import time; `serve` starts the worker."""

from __future__ import annotations

import logging

from flask import Flask

from bridge.clock import Clock, utcnow
from bridge.config import BridgeConfig, load_config
from bridge.db.engine import make_engine
from bridge.enrich import build_enricher
from bridge.interact import web as interact
from bridge.metrics import BridgeMetrics
from bridge.notify.registry import Notifier, build_notifiers
from bridge.settings import Settings
from bridge.silences.alertmanager import AlertmanagerClient
from bridge.silences.service import WindowService
from bridge.store import Store
from bridge.web import alerts, charts, health, metrics, openapi, silences, webhook
from bridge.web.context import EXTENSION_KEY, BridgeContext
from bridge.web.errors import register_error_handlers
from bridge.worker import DeliveryWorker, RetryPolicy


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    notifiers: dict[str, Notifier] | None = None,
    config: BridgeConfig | None = None,
    clock: Clock = utcnow,
    alertmanager: AlertmanagerClient | None = None,
) -> Flask:
    app = Flask("bridge")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = store or Store(make_engine(settings.database_url), settings.pagerduty_events_per_minute)
    bridge_metrics = BridgeMetrics()
    bridge_metrics.watch_outbox(store.outbox_depth)
    config = config or load_config(settings.config_path)
    enricher = build_enricher(
        settings.prometheus_url,
        config.enrichment,
        budget=settings.enrich_budget_seconds,
        ca_bundle=settings.ca_bundle,
        clock=clock,
    )
    worker = DeliveryWorker(
        store,
        notifiers if notifiers is not None else build_notifiers(settings),
        bridge_metrics,
        policy=RetryPolicy(settings.retry_base_seconds, settings.retry_max_seconds),
        clock=clock,
        enrich=enricher.enrich_job if enricher is not None else None,
    )
    app.extensions[charts.ENRICHER_KEY] = enricher
    app.extensions[EXTENSION_KEY] = BridgeContext(
        settings=settings,
        config=config,
        store=store,
        metrics=bridge_metrics,
        worker=worker,
        clock=clock,
        windows=WindowService(store.engine, settings.alertmanager_urls, clock, alertmanager),
        started_at=clock(),
    )
    for module in (webhook, alerts, silences, health, metrics, openapi, charts, interact):
        app.register_blueprint(module.blueprint)
    register_error_handlers(app)
    logging.getLogger("bridge").setLevel(settings.log_level)
    return app


def context_of(app: Flask) -> BridgeContext:
    ctx: BridgeContext = app.extensions[EXTENSION_KEY]
    return ctx
