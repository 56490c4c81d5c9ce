"""What a request handler reaches, hung on the app (no module globals): the shared
services (bridge/services.py) and the link to the delivery side (bridge/runtime.py)."""

from __future__ import annotations

from flask import Flask, current_app

from bridge.runtime import DeliveryLink
from bridge.services import Services

SERVICES_KEY = "alert_bridge"
DELIVERY_KEY = "alert_bridge_delivery"


def attach(app: Flask, services: Services, delivery: DeliveryLink) -> None:
    app.extensions[SERVICES_KEY] = services
    app.extensions[DELIVERY_KEY] = delivery


def services_of(app: Flask) -> Services:
    services: Services = app.extensions[SERVICES_KEY]
    return services


def delivery_of(app: Flask) -> DeliveryLink:
    link: DeliveryLink = app.extensions[DELIVERY_KEY]
    return link


def bridge_context() -> Services:
    return services_of(current_app)


def delivery_link() -> DeliveryLink:
    return delivery_of(current_app)
