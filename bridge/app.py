"""The Flask app factory: the web side of the bridge. Nothing starts at import time.

`serve` passes the link to its delivery process. Without one (tests,
`--single-process`), the delivery side is built here too, in this process,
and started by whoever runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask

from bridge.clock import Clock, utcnow
from bridge.config import BridgeConfig
from bridge.console import routes as console
from bridge.enrich.prometheus import PrometheusClient
from bridge.interact import web as interact
from bridge.metrics import BridgeMetrics
from bridge.notify.registry import Notifier
from bridge.runtime import DeliveryLink, LocalDelivery, build_delivery_side
from bridge.services import build_services
from bridge.settings import Settings
from bridge.silences.alertmanager import AlertmanagerClient
from bridge.store import Store
from bridge.web import alerts, charts, health, openapi, silences, webhook
from bridge.web import metrics as metrics_page
from bridge.web.context import attach
from bridge.web.errors import register_error_handlers


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    delivery: DeliveryLink | None = None,
    notifiers: Mapping[str, Notifier] | None = None,
    config: BridgeConfig | None = None,
    clock: Clock = utcnow,
    alertmanager: AlertmanagerClient | None = None,
    metrics: BridgeMetrics | None = None,
) -> Flask:
    app = Flask("bridge")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    services = build_services(
        settings,
        store=store,
        config=config,
        clock=clock,
        alertmanager=alertmanager,
        metrics=metrics,
    )
    services.metrics.watch_outbox(services.store.outbox_depth)
    if delivery is None:
        delivery = LocalDelivery(build_delivery_side(services, notifiers=notifiers))
    else:
        services.wake = delivery.wake
        services.reconcile_now = delivery.reconcile_now
    services.metrics.delivery_source = delivery.metrics
    attach(app, services, delivery)
    # Charts drawn on request need Prometheus, not the whole enricher.
    app.extensions[charts.PROMETHEUS_KEY] = (
        PrometheusClient(settings.prometheus_url, settings.ca_bundle)
        if services.config.enrichment.enabled
        else None
    )
    blueprints = (webhook, alerts, silences, health, metrics_page, openapi, charts, console)
    for module in (*blueprints, interact):
        app.register_blueprint(module.blueprint)
    register_error_handlers(app)
    logging.getLogger("bridge").setLevel(settings.log_level)
    return app
