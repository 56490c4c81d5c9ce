"""Build a bridge app on a real database for tests, and count what it stored."""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Flask
from sqlalchemy import Engine, create_engine, func, select

from bridge.app import create_app
from bridge.db.models import AlertRow, AttemptRow, DeliveryRow, TransitionRow
from bridge.notify.registry import Notifier
from bridge.runtime import LocalDelivery
from bridge.services import Services
from bridge.settings import Settings
from bridge.store import Store
from bridge.web.context import delivery_of, services_of
from bridge.worker import DeliveryWorker


def make_app(
    settings: Settings, engine: Engine, notifiers: dict[str, Notifier] | None = None
) -> Flask:
    app = create_app(settings, store=Store(engine), notifiers=notifiers)
    app.testing = True
    return app


def unreachable_like(engine: Engine) -> Engine:
    """An engine of the same kind as `engine` whose database cannot be reached."""
    if engine.dialect.name == "sqlite":
        return create_engine("sqlite:///file:/nonexistent/x.db?mode=ro&uri=true")
    return create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )


def ctx(app: Flask) -> Services:
    return services_of(app)


def worker(app: Flask) -> DeliveryWorker:
    """The in-process delivery worker of an app built without a delivery process."""
    link = delivery_of(app)
    assert isinstance(link, LocalDelivery)
    return link.worker


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            model.__tablename__: conn.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (AlertRow, TransitionRow, DeliveryRow, AttemptRow)
        }


def deliveries(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(DeliveryRow.__table__).order_by(DeliveryRow.id))
        return [dict(r._mapping) for r in rows]


def post_alerts(app: Flask, body: dict[str, Any]) -> dict[str, Any]:
    """POST a webhook payload through the test client; it must be accepted."""
    response = app.test_client().post(
        "/webhook/alertmanager", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def deliver_until_settled(app: Flask, timeout: float = 20.0) -> None:
    """Run the worker until no row is pending or in flight (retries come due quickly)."""
    delivery = worker(app)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery.drain()
        depth = ctx(app).store.outbox_depth()
        if depth["pending"] == 0 and depth["in_flight"] == 0:
            return
        time.sleep(0.02)
    raise AssertionError(f"outbox did not settle: {ctx(app).store.outbox_depth()}")
