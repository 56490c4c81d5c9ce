"""Group commit (store/batched_ingest.py): concurrent webhook payloads in one transaction.

A batch must leave the database exactly as the same payloads ingested one after another,
answer each request with its own result, and keep one payload's failure from failing the
others'.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, select, text

from bridge.alerts import WebhookPayload, parse_payload
from bridge.db.models import ALERTS, DELIVERIES, STORMS, TRANSITIONS
from bridge.flapping import FlapLimits
from bridge.routing import Routing
from bridge.settings import Settings
from bridge.store import Store
from bridge.store.batched_ingest import BatchedIngest, IngestRequest
from bridge.store.ingest import IngestResult, ingest
from bridge.storms import StormLimits
from tests.support.bridge_app import make_app, row_counts
from tests.support.payloads import alert, payload, resolved

NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
FLAPS = FlapLimits(max_changes=4)
STORM = StormLimits(max_changes=10)
ROUTING = Routing()


def _episode(node: str, minute: int) -> dict[str, Any]:
    return alert(node=node, starts_at=f"2026-11-28T03:{minute:02d}:00Z")


def _story() -> list[WebhookPayload]:
    """New alerts, one that flaps, repeats, and a storm that opens and grows."""
    bodies = [payload(*(alert(node=f"dgx-spark-0{n}") for n in range(1, 4)))]
    # dgx-spark-01 resolves and fires again until flap control holds it (5th change).
    for minute in range(1, 4):
        bodies.append(payload(resolved(_episode("dgx-spark-01", minute - 1))))
        bodies.append(payload(_episode("dgx-spark-01", minute)))
    bodies.append(payload(alert(node="dgx-spark-02"), alert(node="dgx-spark-03")))  # repeats
    xid = [alert("GPUXidError", node=f"node-{n:02d}", gpu=None) for n in range(14)]
    bodies.append(payload(*xid[:12]))  # the name's 11th change opens a storm
    bodies.append(payload(*xid[12:]))  # and these fold into it
    bodies.append(payload(resolved(xid[13])))
    return [parse_payload(b) for b in bodies]


def _tables(engine: Engine) -> dict[str, Any]:
    """The tables as a reader sees them, without ids and random batch keys."""
    with engine.connect() as conn:
        alerts = [
            {
                k: v
                for k, v in r._mapping.items()
                if k not in ("id", "storm_id", "first_seen_at", "last_seen_at", "last_change_at")
            }
            | {"in_storm": r.storm_id is not None}
            for r in conn.execute(select(ALERTS).order_by(ALERTS.c.fingerprint))
        ]
        transitions = [
            (r.fingerprint, r.status, r.reason)
            for r in conn.execute(select(TRANSITIONS).order_by(TRANSITIONS.c.id))
        ]
        outbox = sorted(
            _without_storm_ids(
                (
                    r.snapshot["fingerprint"],
                    r.channel,
                    r.action,
                    r.priority,
                    r.batch_key is not None,
                    json.dumps(r.snapshot, sort_keys=True),
                )
            )
            for r in conn.execute(select(DELIVERIES))
        )
        storms = [
            (r.alertname, r.ended_at is None)
            for r in conn.execute(select(STORMS).order_by(STORMS.c.id))
        ]
    return {"alerts": alerts, "transitions": transitions, "outbox": outbox, "storms": storms}


def _without_storm_ids(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Storm ids come from a sequence that emptying the tables does not reset."""
    return tuple(
        re.sub(r"(storm/|storm incident |\"storm_id\": )\d+", r"\1#", v)
        if isinstance(v, str)
        else v
        for v in row
    )


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(DELIVERIES))
        conn.execute(delete(TRANSITIONS))
        conn.execute(ALERTS.update().values(storm_id=None))
        conn.execute(delete(STORMS))
        conn.execute(delete(ALERTS))


def _answers(results: list[IngestResult]) -> list[tuple[Any, ...]]:
    return [(r.as_json(), r.decisions) for r in results]


def test_a_batch_leaves_the_database_as_the_same_payloads_one_after_another(
    engine: Engine,
) -> None:
    story = _story()
    one_by_one = []
    for body in story:
        with engine.begin() as conn:
            one_by_one.append(ingest(conn, body, ROUTING, NOW, FLAPS, STORM))
    expected = _tables(engine)
    assert (
        "fp-GPUTemperatureCritical-dgx-spark-01-0",
        "firing",
        "flapping_started_refire",
    ) in (expected["transitions"]), "the story must reach flap control"
    assert expected["storms"] == [("GPUXidError", True)], "the story must open a storm"

    _empty(engine)
    batched = BatchedIngest(engine).commit_together(
        [IngestRequest(body, ROUTING, NOW, FLAPS, STORM) for body in story]
    )
    assert all(isinstance(r, IngestResult) for r in batched)
    results = [r for r in batched if isinstance(r, IngestResult)]
    assert _tables(engine) == expected
    # Each request's own answer, as alone; the storm's rows counted on the payload that
    # opened it.
    assert _answers(results) == _answers(one_by_one)
    assert {r.batch for r in results} == {len(story)}


def _poison_node(engine: Engine, node: str) -> None:
    """A database that refuses one value, as a real database refuses one (a trigger)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON alerts "
                    f"WHEN NEW.node = '{node}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'refused' USING ERRCODE = '22000'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON alerts FOR EACH ROW "
                    f"WHEN (NEW.node = '{node}') EXECUTE FUNCTION refuse_poison()"
                )
            )


def _drop_poison(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "DROP TRIGGER refuse_poison"
                + ("" if engine.dialect.name == "sqlite" else " ON alerts")
            )
        )
        if engine.dialect.name != "sqlite":
            conn.execute(text("DROP FUNCTION refuse_poison()"))


def test_one_refused_payload_fails_only_its_own_request(engine: Engine) -> None:
    _poison_node(engine, "poison")
    try:
        bodies = [
            parse_payload(payload(alert(node="dgx-spark-01"))),
            parse_payload(payload(alert(node="poison"))),
            parse_payload(payload(alert(node="dgx-spark-02"))),
        ]
        outcomes = BatchedIngest(engine).commit_together(
            [IngestRequest(b, ROUTING, NOW, FLAPS, STORM) for b in bodies]
        )
    finally:
        _drop_poison(engine)
    assert isinstance(outcomes[0], IngestResult) and isinstance(outcomes[2], IngestResult)
    assert isinstance(outcomes[1], Exception) and "refused" in str(outcomes[1])
    assert [o.new for o in outcomes if isinstance(o, IngestResult)] == [1, 1]
    with engine.connect() as conn:
        nodes = sorted(r.node for r in conn.execute(select(ALERTS.c.node)))
    assert nodes == ["dgx-spark-01", "dgx-spark-02"]
    assert row_counts(engine)["deliveries"] == 4


def test_a_hinted_repeat_that_is_not_one_any_more_is_decided_by_the_full_ingest(
    engine: Engine,
) -> None:
    """The hint is this process's; another replica changed the alert since."""
    here, other = BatchedIngest(engine), Store(engine)
    firing = alert(node="dgx-spark-01")
    here.commit_together([IngestRequest(parse_payload(payload(firing)), ROUTING, NOW, None, STORM)])
    other.ingest(parse_payload(payload(resolved(firing))), ROUTING, NOW)
    outcomes = here.commit_together(
        [
            IngestRequest(parse_payload(payload(firing)), ROUTING, NOW, None, STORM),
            IngestRequest(
                parse_payload(payload(alert(node="dgx-spark-02"))), ROUTING, NOW, None, STORM
            ),
        ]
    )
    results = [o for o in outcomes if isinstance(o, IngestResult)]
    assert len(results) == 2
    assert results[0].decisions != (("fp-GPUTemperatureCritical-dgx-spark-01-0", "repeat_firing"),)
    assert results[1].new == 1
    with engine.connect() as conn:
        counts = {
            r.node: (r.status, r.received_count)
            for r in conn.execute(select(ALERTS.c.node, ALERTS.c.status, ALERTS.c.received_count))
        }
    assert counts == {"dgx-spark-01": ("resolved", 3), "dgx-spark-02": ("firing", 1)}


def _hold_writes(engine: Engine) -> Any:
    """A transaction that keeps every ingest waiting until it ends."""
    conn = engine.connect()
    transaction = conn.begin()  # SQLite: takes the write lock at BEGIN
    if engine.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE alerts IN EXCLUSIVE MODE"))
    return conn, transaction


def test_requests_queued_behind_a_transaction_are_committed_together_and_answered_after(
    engine: Engine, settings: Settings
) -> None:
    app = make_app(settings, engine)
    client = app.test_client()
    answers: dict[int, Any] = {}

    def post(n: int) -> None:
        body = payload(alert(node=f"dgx-spark-{n:02d}"))
        response = client.post(
            "/webhook/alertmanager", data=json.dumps(body), content_type="application/json"
        )
        answers[n] = (response.status_code, response.get_json())

    conn, transaction = _hold_writes(engine)
    try:
        posters = [threading.Thread(target=post, args=(n,)) for n in range(6)]
        for poster in posters:
            poster.start()
        for poster in posters:
            poster.join(timeout=0.5)
        assert answers == {}, "no answer before the commit"
    finally:
        transaction.rollback()
        conn.close()
    for poster in posters:
        poster.join(timeout=20)
    assert {n: a[0] for n, a in answers.items()} == dict.fromkeys(range(6), 200)
    assert all(a[1]["new"] == 1 and a[1]["notifications"] == 2 for a in answers.values())
    assert row_counts(engine)["alerts"] == 6
    metrics = client.get("/metrics").get_data(as_text=True)
    batched = [
        line
        for line in metrics.splitlines()
        if line.startswith("alert_bridge_webhook_batch_requests_bucket")
    ]
    alone = next(line for line in batched if 'le="1.0"' in line)
    total = next(
        line
        for line in metrics.splitlines()
        if line.startswith("alert_bridge_webhook_batch_requests_count")
    )
    assert float(total.split()[-1]) == 6
    # The first request waited alone for the lock; the others queued behind it.
    assert float(alone.split()[-1]) < 6
