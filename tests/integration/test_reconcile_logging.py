"""A missing Alertmanager is logged once as a WARNING, not once a minute for as long as it
stays away (the rounds are counted in /metrics and on the console either way)."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
import requests
import requests.adapters
from sqlalchemy import Engine

from bridge.app import create_app
from bridge.reconcile.job import Reconciler
from bridge.settings import Settings
from bridge.store import Store
from tests.support.bridge_app import ctx
from tests.support.canned_alertmanager import CannedAlertmanager, UnreachableAlertmanager


def test_an_unreachable_alertmanager_warns_once_and_its_return_is_said(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(
        replace(settings, alertmanager_urls=("http://alertmanager.test:9093",)),
        store=Store(engine),
    )
    session = requests.Session()
    reconciler = Reconciler(ctx(app), "log-test", session=session)

    def rounds(alertmanager: requests.adapters.BaseAdapter, count: int) -> None:
        session.mount("http://", alertmanager)
        for _ in range(count):
            reconciler.request()  # at once, not after the round spacing
            reconciler.run()

    with caplog.at_level(logging.DEBUG, logger="bridge.reconcile.job"):
        rounds(UnreachableAlertmanager(), 4)
        rounds(CannedAlertmanager([]), 1)
        rounds(UnreachableAlertmanager(), 2)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    warnings = [m for level, m in lines if level == "WARNING"]
    assert len(warnings) == 2  # the first failure, and the first after it came back
    assert all("unreachable" in m for m in warnings)
    assert any(level == "INFO" and "rounds conclude again" in m for level, m in lines)
