"""Exact repeats (same fingerprint, startsAt and status as stored) only count (store/repeats.py).

The cheap path is taken on this process's hint; the database decides whether it applies.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, delete, select

from bridge.db.models import AlertRow, DeliveryRow, TransitionRow
from bridge.settings import Settings
from tests.support.bridge_app import deliveries, make_app, post_alerts, row_counts
from tests.support.payloads import alert, payload, resolved

POSTERS = 4
POSTS_EACH = 10


def _counters(engine: Engine) -> dict[str, tuple[str, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                AlertRow.node, AlertRow.status, AlertRow.received_count, AlertRow.duplicate_count
            )
        )
        return {r.node: (r.status, r.received_count, r.duplicate_count) for r in rows}


def test_exact_repeats_count_as_duplicates_and_queue_nothing(
    engine: Engine, settings: Settings
) -> None:
    app = make_app(settings, engine)
    body = payload(*(alert(node=f"dgx-spark-0{n}") for n in range(1, 4)))
    assert post_alerts(app, body)["new"] == 3
    answers = [post_alerts(app, body) for _ in range(3)]
    assert {(a["new"], a["duplicates"], a["notifications"]) for a in answers} == {(0, 3, 0)}
    assert _counters(engine) == {f"dgx-spark-0{n}": ("firing", 4, 3) for n in range(1, 4)}
    assert row_counts(engine)["alert_transitions"] == 3
    assert len(deliveries(engine)) == 6  # PagerDuty and Slack once per alert


def test_a_payload_with_one_new_alert_among_repeats_pages_the_new_one(
    engine: Engine, settings: Settings
) -> None:
    app = make_app(settings, engine)
    known = [alert(node="dgx-spark-01"), alert(node="dgx-spark-02")]
    post_alerts(app, payload(*known))
    answer = post_alerts(app, payload(*known, alert(node="dgx-spark-03")))
    assert (answer["new"], answer["duplicates"], answer["notifications"]) == (1, 2, 2)
    assert _counters(engine)["dgx-spark-01"] == ("firing", 2, 1)


def test_a_firing_repeated_after_another_replica_stored_its_resolve_stays_resolved(
    engine: Engine, settings: Settings
) -> None:
    first, second = make_app(settings, engine), make_app(settings, engine)
    firing = alert(node="dgx-spark-01")
    post_alerts(first, payload(firing))
    assert post_alerts(second, payload(resolved(firing)))["resolved"] == 1
    # `first` last stored it firing; the database says resolved: a late HA peer's re-send.
    answer = post_alerts(first, payload(firing))
    assert (answer["new"], answer["duplicates"]) == (0, 1)
    assert _counters(engine)["dgx-spark-01"] == ("resolved", 3, 1)
    assert [d["action"] for d in deliveries(engine)].count("resolve") == 2


def test_a_repeat_whose_row_is_gone_is_a_new_alert_again(
    engine: Engine, settings: Settings
) -> None:
    # The database was restored from a backup older than the alert: this process has
    # seen it, the database has not, and the database decides.
    app = make_app(settings, engine)
    body = payload(alert(node="dgx-spark-01"))
    post_alerts(app, body)
    with engine.begin() as conn:
        for model in (DeliveryRow, TransitionRow, AlertRow):
            conn.execute(delete(model))
    answer = post_alerts(app, body)
    assert (answer["new"], answer["duplicates"], answer["notifications"]) == (1, 0, 2)
    assert _counters(engine) == {"dgx-spark-01": ("firing", 1, 0)}


def test_concurrent_repeats_from_two_replicas_are_each_counted_once(
    engine: Engine, settings: Settings
) -> None:
    replicas = [make_app(settings, engine), make_app(settings, engine)]
    body = payload(*(alert(node=f"dgx-spark-0{n}") for n in range(1, 5)))
    for app in replicas:  # both have stored it (the second as a repeat)
        post_alerts(app, body)
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def poster(index: int) -> None:
        for _ in range(POSTS_EACH):
            answer = post_alerts(replicas[index % 2], body)
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=poster, args=(i,)) for i in range(POSTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == POSTERS * POSTS_EACH
    assert all(a["duplicates"] == 4 and a["notifications"] == 0 for a in answers)
    posts = 2 + POSTERS * POSTS_EACH
    assert _counters(engine) == {
        f"dgx-spark-0{n}": ("firing", posts, posts - 1) for n in range(1, 5)
    }
    assert len(deliveries(engine)) == 8
