"""The webhook bodies each end of the supported Alertmanager range really sends are accepted.

Newer Alertmanagers add fields to the webhook payload (0.32 `notification_reason`; 0.34
`routeLabels`, `null` when the route has none): the bridge must take them as it takes 0.25's
bodies, not refuse them with a 400 that Alertmanager would never retry. The bodies are
captured from a real Alertmanager of each end (a recorder stands in for the bridge), then
posted to the bridge on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from bridge.settings import Settings
from tests.e2e.conftest_ha import TestAlert, alertmanager_config, post_to_alertmanagers
from tests.support.bridge_app import make_app, post_alerts
from tests.support.peers import PeerVersions
from tests.support.procs import free_port, wait_until
from tests.support.stack_procs import start_alertmanager
from tests.support.webhook_recorder import WebhookRecorder

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Captured:
    peers: PeerVersions
    firing: dict[str, Any]
    resolved: dict[str, Any]


def _notification(recorder: WebhookRecorder, status: str) -> dict[str, Any] | None:
    bodies = [r.body for r in recorder.received() if isinstance(r.body, dict)]
    return next((b for b in bodies if b.get("status") == status), None)


@pytest.fixture(scope="module")
def captured(
    tmp_path_factory: pytest.TempPathFactory, peer_versions: PeerVersions
) -> Iterator[Captured]:
    tmp = tmp_path_factory.mktemp("am-webhook")
    with WebhookRecorder() as recorder:
        config = alertmanager_config(tmp / "alertmanager.yml", [recorder.url.rstrip("/")])
        with start_alertmanager(config, tmp, free_port(), peers=peer_versions) as am:
            alert = TestAlert("GPUTemperatureCritical", "dgx-spark-01", datetime.now(UTC))
            post_to_alertmanagers([am.url], [alert])
            firing = wait_until(
                lambda: _notification(recorder, "firing"),
                timeout=60,
                what="Alertmanager's firing notification",
                procs=[am],
            )
            post_to_alertmanagers([am.url], [alert], resolved=True)
            resolved = wait_until(
                lambda: _notification(recorder, "resolved"),
                timeout=60,
                what="Alertmanager's resolved notification",
                procs=[am],
            )
    yield Captured(peer_versions, firing, resolved)


def test_the_newest_alertmanager_sends_the_fields_the_oldest_does_not(
    captured: Captured,
) -> None:
    # Guards the next test: on the newest end it must see the new field, or it proves nothing.
    assert ("notification_reason" in captured.firing) == captured.peers.alertmanager_at_least(0, 32)


def test_the_bridge_takes_each_versions_firing_and_resolved_bodies(
    captured: Captured, settings: Settings, engine: Engine
) -> None:
    app = make_app(settings, engine)
    post_alerts(app, captured.firing)
    (stored,) = app.test_client().get("/alerts").get_json()["alerts"]
    assert stored["status"] == "firing"
    post_alerts(app, captured.resolved)
    (stored,) = app.test_client().get("/alerts").get_json()["alerts"]
    assert stored["status"] == "resolved"


def test_route_labels_of_a_newer_alertmanager_are_accepted_as_null_or_a_map(
    captured: Captured, settings: Settings, engine: Engine
) -> None:
    # 0.34 (not packaged by Debian yet) adds `routeLabels` beside the 0.33 body's fields;
    # Go encodes a route without labels as null.
    app = make_app(settings, engine)
    for route_labels in (None, {"team": "gpu"}):
        post_alerts(app, {**captured.firing, "routeLabels": route_labels})
    (stored,) = app.test_client().get("/alerts").get_json()["alerts"]
    assert stored["status"] == "firing"
