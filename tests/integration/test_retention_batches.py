"""A day's retention purge runs in many small transactions, not one long one (issue 23).

With 30 days of history a day is ~33,000 deliveries and their attempts. One
transaction deleting them would hold SQLite's write lock (and PostgreSQL's row locks)
for seconds while webhooks wait; `bench/history.py` measures the webhook latency
during such a purge.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, func, select

from bridge.db.models import AlertRow, AttemptRow, DeliveryRow
from bridge.store.scheduled import purge_old
from tests.support.history import Fleet, seed_history

FLEET = Fleet(nodes=10, days=10, alerts=1_000, deliveries_per_alert=4, firing=20, storms=2)
BATCH = 40


def _count(engine: Engine, model: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def test_a_days_purge_commits_in_batches_of_the_given_size(engine: Engine) -> None:
    now = datetime.now(UTC)
    seed_history(engine, FLEET, now)
    cutoff = now - timedelta(days=FLEET.days - 1)  # the oldest of the ten days
    old_deliveries = _count(engine, DeliveryRow, DeliveryRow.finished_at < cutoff)
    old_alerts = _count(
        engine, AlertRow, AlertRow.status == "resolved", AlertRow.last_change_at < cutoff
    )
    assert old_deliveries > 3 * BATCH and old_alerts > BATCH
    kept_deliveries = _count(engine, DeliveryRow) - old_deliveries

    commits: list[int] = []
    deleted_per_statement: list[int] = []

    def on_commit(_conn: Any) -> None:
        commits.append(1)

    def on_delete(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if sql.startswith("DELETE"):
            size = len(params) if isinstance(params, tuple | list) else len(params or {})
            deleted_per_statement.append(size)

    event.listen(engine, "commit", on_commit)
    event.listen(engine, "before_cursor_execute", on_delete)
    try:
        counts = purge_old(engine, cutoff, batch=BATCH)
    finally:
        event.remove(engine, "commit", on_commit)
        event.remove(engine, "before_cursor_execute", on_delete)

    assert counts["deliveries"] == old_deliveries
    assert counts["alerts"] == old_alerts
    # Every batch its own transaction: at least one commit per BATCH rows of each table.
    least = math.ceil(old_deliveries / BATCH) + math.ceil(old_alerts / BATCH)
    assert len(commits) >= least, (len(commits), least)
    assert deleted_per_statement and max(deleted_per_statement) <= BATCH
    # What is newer stays, with its attempts; what was purged took its attempts along.
    assert _count(engine, DeliveryRow) == kept_deliveries
    assert _count(engine, AttemptRow) == kept_deliveries
    assert _count(engine, DeliveryRow, DeliveryRow.finished_at < cutoff) == 0
