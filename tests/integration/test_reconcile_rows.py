"""Reconciliation's database side on SQLite and PostgreSQL: the round lease replicas share,
and what a muted alert is spared (no reminder)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from bridge.jobs import send_reminders
from bridge.reconcile import rows
from bridge.reconcile.model import Observation
from bridge.settings import Settings
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.integration.test_scheduled_jobs import iso, make, send, settle
from tests.support.bridge_app import ctx
from tests.support.clock import Clock
from tests.support.payloads import alert

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=1)


def take(engine: Engine, worker: str, now: datetime, not_since: datetime | None = None) -> bool:
    with engine.begin() as conn:
        return rows.take_lease(conn, worker, now, LEASE, not_since)


def finish(engine: Engine, worker: str, now: datetime, outcome: str = "ok") -> None:
    with engine.begin() as conn:
        rows.finish_round(conn, worker, now, now, outcome, "detail")


def test_one_replica_at_a_time_holds_the_round_lease(engine: Engine) -> None:
    assert take(engine, "a", T0)
    assert not take(engine, "b", T0 + timedelta(seconds=1)), "a holds it"
    finish(engine, "a", T0 + timedelta(seconds=2))
    # Replicas share one cadence: a round that just finished makes the next one wait...
    assert not take(engine, "b", T0 + timedelta(seconds=3), not_since=T0)
    # ...unless it is asked for at once (a cut webhook).
    assert take(engine, "b", T0 + timedelta(seconds=3), not_since=None)


def test_a_lease_whose_holder_died_runs_out(engine: Engine) -> None:
    assert take(engine, "a", T0)
    assert not take(engine, "b", T0 + LEASE - timedelta(seconds=1))
    assert take(engine, "b", T0 + LEASE + timedelta(seconds=1))
    finish(engine, "a", T0 + LEASE + timedelta(seconds=2))  # too late: not a's any more
    with engine.connect() as conn:
        status = rows.status(conn)
    assert status is not None and status["running_by"] == "b"


def test_failures_in_a_row_are_counted_until_a_round_concludes(engine: Engine) -> None:
    assert take(engine, "a", T0 - timedelta(seconds=1))
    finish(engine, "a", T0 - timedelta(seconds=1), "grace")  # waiting is no failure
    for i in range(3):
        assert take(engine, "a", T0 + timedelta(seconds=i))
        finish(engine, "a", T0 + timedelta(seconds=i), "failed")
    with engine.connect() as conn:
        status = rows.status(conn)
    assert status is not None and status["failures"] == 3 and status["last_success_at"] is None
    assert take(engine, "a", T0 + timedelta(seconds=5))
    finish(engine, "a", T0 + timedelta(seconds=5))
    with engine.connect() as conn:
        status = rows.status(conn)
    assert status is not None and status["failures"] == 0
    assert status["last_success_at"] == T0 + timedelta(seconds=5)


def test_an_alert_muted_in_alertmanager_gets_no_reminder(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    send(
        app,
        alert(node="n1", starts_at=iso(T0), fingerprint="muted"),
        alert(node="n2", starts_at=iso(T0), fingerprint="plain"),
    )
    settle(app)
    # What a reconcile round records for an alert silenced in Alertmanager.
    with engine.begin() as conn:
        seen = Observation("suppressed", "silenced", "window w1", seen_at=T0)
        rows.save_observations(conn, {"muted": seen}, {}, T0)
    clock.advance(hours=4, minutes=1)
    assert send_reminders(ctx(app)) == 1  # the other one only
    settle(app)
    muted = next(m for m in slack.top_level() if "n1" in str(m.blocks))
    assert slack.replies(muted.ts) == []
