"""Row locks of concurrent webhook posts on a storm's anchor alert (PostgreSQL: several writers).

A storm's outbox rows hang on its anchor alert: inserting one takes `KEY SHARE` on the
anchor (the foreign key). A post that holds the anchor (it came in the same Alertmanager
group) must not keep out a post that holds the storm and queues its refresh, or the two
wait for each other: the first for the storm, the second for the anchor.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, Engine, select, text

from bridge.alerts import parse_payload
from bridge.db.models import ALERTS, STORMS
from bridge.routing import Routing
from bridge.settings import Settings
from bridge.store.alert_rows import lock_in_order, lock_rows
from bridge.store.ingest import ingest
from bridge.store.repeats import count_repeats_many
from bridge.storms import DEFAULT_LIMITS
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.integration.test_storm_folding import T0, gpu_alerts, make, start_storm
from tests.support.payloads import payload
from tests.support.procs import wait_until

SQLITE = "SQLite has one writer at a time: no two transactions hold row locks at once"


def _waiting_for_locks(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def _storm(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(STORMS.c.id, STORMS.c.fired_count, ALERTS.c.fingerprint.label("anchor")).join(
                ALERTS, ALERTS.c.id == STORMS.c.anchor_alert_id
            )
        ).one()


def _post(app: Flask, alerts: list[dict[str, Any]], answers: dict[str, Any], name: str) -> None:
    response = app.test_client().post(
        "/webhook/alertmanager", data=json.dumps(payload(*alerts)), content_type="application/json"
    )
    answers[name] = (response.status_code, response.get_json())


def test_a_post_holding_the_storm_anchor_and_one_growing_the_storm_both_commit(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip(SQLITE)
    # A storm whose first notifications went out: the next growth queues refreshes,
    # outbox rows of the storm's anchor alert.
    app, clock = start_storm(live_settings, engine)
    other = make(live_settings, engine, clock)  # a second replica
    before = _storm(engine)
    [anchor] = [a for a in gpu_alerts(0, 40) if a["fingerprint"] == before.anchor]
    [late] = gpu_alerts(100, 1)
    [grower] = gpu_alerts(101, 1)
    answers: dict[str, Any] = {}
    holding_anchor = threading.Thread(target=_post, args=(app, [anchor, late], answers, "anchor"))
    growing = threading.Thread(target=_post, args=(other, [grower], answers, "grower"))

    with engine.connect() as gate, gate.begin() as transaction:
        # Another transaction creating `late`, not yet committed: the first post locks
        # the anchor (its group's repeat), then waits here to insert `late`.
        no_storms = replace(DEFAULT_LIMITS, max_changes=0)
        ingest(gate, parse_payload(payload(late)), Routing(), T0, storm=no_storms)
        holding_anchor.start()
        wait_until(
            lambda: _waiting_for_locks(engine) >= 1 or None,
            timeout=30,
            what="the post holding the anchor waiting for the gate",
        )
        # The second post folds `grower`: it locks the storm and queues the storm's
        # refreshes on the anchor, while the first post holds it.
        growing.start()
        wait_until(
            lambda: not growing.is_alive() or _waiting_for_locks(engine) >= 2 or None,
            timeout=30,
            what="the growing post done, or waiting for the anchor",
        )
        # The first post goes on to fold `late` into the storm.
        transaction.rollback()
    holding_anchor.join(timeout=60)
    growing.join(timeout=60)

    assert answers["anchor"][0] == 200, answers
    assert answers["grower"][0] == 200, answers
    assert answers["anchor"][1]["folded"] == 1
    assert answers["grower"][1]["folded"] == 1
    after = _storm(engine)
    assert (after.id, after.fired_count) == (before.id, before.fired_count + 2)


def _key_share_nowait(conn: Connection, fingerprint: str) -> None:
    """What inserting an outbox row of this alert locks on it (PostgreSQL's foreign key
    check reads the referenced row `FOR KEY SHARE`), failing at once on a conflicting lock
    instead of waiting for it."""
    conn.execute(
        select(ALERTS.c.id)
        .where(ALERTS.c.fingerprint == fingerprint)
        .with_for_update(read=True, key_share=True, nowait=True)
    ).one()


@pytest.mark.parametrize("locker", ["lock_rows", "lock_in_order", "count_repeats"])
def test_an_ingest_lock_on_an_alert_never_keeps_out_its_outbox_rows(
    engine: Engine, locker: str
) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip(SQLITE)
    [stored] = gpu_alerts(0, 1)
    body = parse_payload(payload(stored))
    with engine.begin() as conn:
        ingest(conn, body, Routing(), T0)
    fingerprint = stored["fingerprint"]
    with engine.connect() as holder, holder.begin():
        if locker == "lock_rows":
            lock_rows(holder, [fingerprint])
        elif locker == "lock_in_order":
            lock_in_order(holder, [fingerprint])
        else:
            count_repeats_many(holder, [body.alerts], T0)
        with engine.connect() as other, other.begin():
            _key_share_nowait(other, fingerprint)
