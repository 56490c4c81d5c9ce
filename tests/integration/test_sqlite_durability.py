"""SQLite commits that answer a webhook are durable: synchronous=FULL (issue 22, finding 5).

With WAL, `synchronous=NORMAL` may roll back the last commits on an OS crash or power
loss, after Alertmanager got its 200. Read back through the very engine the app writes with.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from bridge.app import create_app
from bridge.db.engine import make_engine
from bridge.db.migrate import upgrade
from bridge.settings import load_settings
from tests.support.bridge_app import ctx
from tests.support.payloads import alert, payload

# PRAGMA synchronous values: https://www.sqlite.org/pragma.html#pragma_synchronous
NORMAL, FULL = 1, 2


def pragma(engine: Engine, name: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_the_web_process_commits_a_webhook_with_synchronous_full(tmp_path: Path) -> None:
    settings = load_settings({"BRIDGE_STATE_DIR": str(tmp_path)})
    assert settings.database_url.startswith("sqlite")  # the default database
    upgrade(make_engine(settings.database_url))
    app = create_app(settings)
    answer = app.test_client().post(
        "/webhook/alertmanager", data=json.dumps(payload(alert())), content_type="application/json"
    )
    assert answer.status_code == 200, answer.get_json()

    engine = ctx(app).store.engine
    assert pragma(engine, "journal_mode") == "wal"
    assert pragma(engine, "synchronous") == FULL


def test_background_writers_leave_the_sync_to_the_web_process(tmp_path: Path) -> None:
    settings = load_settings({"BRIDGE_STATE_DIR": str(tmp_path)})
    # The delivery process's commits answer nobody (a lost one repeats a delivery).
    background = make_engine(settings.database_url, background=True)

    assert pragma(background, "journal_mode") == "wal"
    assert pragma(background, "synchronous") == NORMAL
