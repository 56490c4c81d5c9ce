"""Reads never wait for a writer: on SQLite only writers queue for the database.

A slow webhook transaction (or the delivery process's) holds SQLite's write
lock; readiness probes, dashboards and the API must still answer, and must not
hold up the webhook behind them either.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine

from bridge.settings import Settings
from tests.support.bridge_app import make_app

READS = (
    "/healthz",
    "/readyz",
    "/alerts",
    "/silences",
    "/silences/00000000-0000-0000-0000-000000000000",
    "/charts/1.png?key=wrong",
    "/metrics",
    # The web console's pages.
    "/",
    "/deliveries?status=dead",
    "/windows",
    "/alert/x",
)


@pytest.mark.parametrize("path", READS)
def test_a_read_is_answered_while_a_writer_holds_the_database(
    settings: Settings, engine: Engine, path: str
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL readers never wait for writers")
    client = make_app(settings, engine).test_client()
    answers: list[int] = []
    reader = threading.Thread(target=lambda: answers.append(client.get(path).status_code))
    with engine.begin():  # the write lock, as a long webhook transaction holds it
        reader.start()
        reader.join(timeout=10)
        answered_while_held = bool(answers)
    reader.join(timeout=10)
    assert answered_while_held, f"GET {path} waited for the writer"
    assert answers[0] < 500
