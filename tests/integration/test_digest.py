"""Channel summaries from history recorded through the webhook, under a controllable clock.

History goes in the way Alertmanager puts it in (POST /webhook/alertmanager) and
deliveries go to the PagerDuty and Slack replicas; summaries go to the Slack
replica's #alerts-info, so they are told apart from alert messages in #alerts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, select

from bridge.app import create_app
from bridge.config import BridgeConfig
from bridge.db.models import JobRunRow
from bridge.digest.build import as_text
from bridge.digest.facts import AlertnameStats, NoisyAlert, read_facts
from bridge.digest.job import run_due
from bridge.settings import Settings
from bridge.store import Store
from bridge.web.context import services_of
from tests.fakes.slack import FakeSlack, SlackMessage
from tests.fakes.tls import TestCA
from tests.integration.conftest import SLACK_TOKEN
from tests.support.bridge_app import deliver_until_settled, deliveries, worker
from tests.support.clock import Clock
from tests.support.payloads import alert, payload, resolved
from tests.support.procs import REPO_ROOT

DAILY = "0 9 * * *"
DIGEST_CHANNEL = "#alerts-info"
API_TOKEN = "api-token-for-digest-tests-0123456789abcdef"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


# Unless a test says otherwise, the bridge has been running since well before its slots.
INSTALLED = at(20, 0)


def make(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    schedules: tuple[str, ...] = (DAILY,),
    started_at: datetime = INSTALLED,
) -> Flask:
    configured = replace(
        settings,
        api_token=API_TOKEN,
        # Nothing listens there: window sync fails fast and is retried later, as designed.
        alertmanager_urls=("http://127.0.0.1:1",),
    )
    config = BridgeConfig(raw={"digest": {"schedules": list(schedules), "channel": DIGEST_CHANNEL}})
    now, clock.now = clock.now, started_at
    app = create_app(configured, store=Store(engine), clock=clock, config=config)
    clock.now = now
    app.testing = True
    return app


def post(app: Flask, clock: Clock, when: datetime, *alerts: dict[str, Any]) -> None:
    """Alertmanager posts at `when`; the worker delivers at once, at the same time."""
    clock.now = when
    response = app.test_client().post(
        "/webhook/alertmanager", data=json.dumps(payload(*alerts)), content_type="application/json"
    )
    assert response.status_code == 200, response.get_json()
    worker(app).drain()


def add_window(app: Flask, clock: Clock, when: datetime, body: dict[str, Any]) -> None:
    clock.now = when
    response = app.test_client().post(
        "/silences",
        data=json.dumps({"createdBy": "ops", **body}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert response.status_code == 201, response.get_json()


def run_job(app: Flask, clock: Clock, when: datetime) -> int:
    """Run the summary job at `when`, then deliver what it queued, as the bridge would."""
    clock.now = when
    ran = run_due(services_of(app))
    worker(app).drain()
    return ran


def summaries(slack: FakeSlack) -> list[SlackMessage]:
    return slack.top_level(DIGEST_CHANNEL)


def text_of(message: SlackMessage) -> str:
    return as_text(message.blocks or [])


def job_runs(engine: Engine) -> list[tuple[str, datetime, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(JobRunRow.job, JobRunRow.slot, JobRunRow.outcome).order_by(JobRunRow.slot)
        )
        return [(r.job, r.slot, r.outcome) for r in rows]


def record_known_day(app: Flask, clock: Clock, slack: FakeSlack) -> None:
    """A day on the cluster; the summary period is [27 Nov 09:00, 28 Nov 09:00) UTC."""

    def firing(name: str, start: datetime, **kw: Any) -> dict[str, Any]:
        return alert(name, starts_at=iso(start), **kw)

    fan = firing("FanSpeedLow", at(27, 8), severity="warning", gpu=None)
    post(app, clock, at(27, 8), fan)  # before the period
    post(app, clock, at(27, 9, 30), resolved(fan, iso(at(27, 9, 30))))  # 1h 30m
    hot = firing("GPUTemperatureCritical", at(27, 10))
    post(app, clock, at(27, 10), hot)  # page 1
    post(app, clock, at(27, 10, 12), resolved(hot, iso(at(27, 10, 12))))  # 12m
    hot_again = firing("GPUTemperatureCritical", at(27, 11))
    post(app, clock, at(27, 11), hot_again)  # re-fire: page 2
    post(app, clock, at(27, 11, 30), resolved(hot_again, iso(at(27, 11, 30))))  # 30m
    post(app, clock, at(27, 12), firing("NodeDown", at(27, 12), node="dgx-spark-02", gpu=None))
    slack.fail_next("chat.postMessage", error="channel_not_found")
    post(app, clock, at(27, 13), firing("XidError", at(27, 13), severity="warning", gpu="1"))
    for hour in (14, 20):
        watchdog = firing("Watchdog", at(26, 0), severity="none", node="", gpu=None)
        post(app, clock, at(27, hour), watchdog)
    add_window(app, clock, at(28, 8), {"node": "dgx-spark-02", "duration": "3h", "comment": "fw"})
    add_window(
        app,
        clock,
        at(28, 8, 5),
        {"node": "dgx-spark-01", "startsAt": iso(at(29, 2)), "duration": "2h", "comment": "bios"},
    )
    # At the period's end exactly: firing now, but it belongs to the next period's counts.
    disk = firing("DiskPressure", at(28, 9), severity="warning", node="dgx-spark-02", gpu=None)
    post(app, clock, at(28, 9), disk)


def test_summary_of_a_known_day_counts_what_happened(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    clock = Clock(at(27, 8))
    app = make(live_settings, engine, clock)
    record_known_day(app, clock, slack)

    with engine.connect() as conn:
        facts = read_facts(conn, at(27, 9), at(28, 9), at(28, 9, 0, 30))
    assert facts.alertnames == (
        AlertnameStats("GPUTemperatureCritical", 2, 2, mean_resolve_seconds=21 * 60),
        AlertnameStats("NodeDown", 1, 0),
        AlertnameStats("XidError", 1, 0),
        AlertnameStats("FanSpeedLow", 0, 1, mean_resolve_seconds=90 * 60),
    )
    assert facts.mean_resolve_seconds == (90 + 12 + 30) * 60 / 3
    assert facts.noisiest == (NoisyAlert("GPUTemperatureCritical", "dgx-spark-01", 2),)
    assert (facts.pages_sent, facts.pages_dry_run) == (3, 0)
    assert facts.failed_total == 1
    (failed,) = facts.failed
    assert (failed.channel, failed.action, failed.alertname) == ("slack", "trigger", "XidError")
    assert "channel_not_found" in failed.error
    firing = {(a.alertname, a.node, a.in_maintenance) for a in facts.firing}
    assert firing == {
        ("NodeDown", "dgx-spark-02", False),
        ("XidError", "dgx-spark-01", False),
        ("DiskPressure", "dgx-spark-02", True),
    }
    assert [w.comment for w in facts.active_windows] == ["fw"]
    assert [(w.comment, w.starts_at) for w in facts.upcoming_windows] == [("bios", at(29, 2))]

    assert run_job(app, clock, at(28, 9, 0, 30)) == 1
    (message,) = summaries(slack)
    assert message.text == (
        "Alert summary Fri 27 Nov 09:00 – Sat 28 Nov 09:00: "
        "3 firing now, 4 fired, 3 resolved, 3 pages, 1 failed delivery"
    )
    text = text_of(message)
    for line in (
        "Mean time to resolve: 44m",
        "dgx-spark-02: DiskPressure (warning, for 30s, in maintenance), NodeDown (critical, for",
        "• GPUTemperatureCritical: fired 2, resolved 2, resolved in 21m on average",
        "1. GPUTemperatureCritical on dgx-spark-01: fired 2 times",
        "• Fri 27 Nov 13:00 slack trigger of XidError on dgx-spark-01:",
        '• now: node="dgx-spark-02" until Sat 28 Nov 11:00: fw (ops)',
        '• upcoming: node="dgx-spark-01" Sun 29 Nov 02:00 – Sun 29 Nov 04:00: bios (ops)',
    ):
        assert line in text
    assert "Watchdog" not in text
    assert job_runs(engine) == [(f"digest:{DAILY}", at(28, 9), "ok")]


def test_a_quiet_day_gets_a_short_all_quiet_message(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    clock = Clock(at(27, 7))
    app = make(live_settings, engine, clock)
    blip = alert("FanSpeedLow", severity="warning", starts_at=iso(at(27, 7)))
    post(app, clock, at(27, 7), blip)
    post(app, clock, at(27, 8), resolved(blip, iso(at(27, 8))))  # over before the period
    for hour in (10, 16, 22):  # the always-firing Watchdog is not news
        watchdog = alert("Watchdog", severity="none", node="", gpu=None, starts_at=iso(at(26, 0)))
        post(app, clock, at(27, hour), watchdog)

    run_job(app, clock, at(28, 9, 0, 30))
    (message,) = summaries(slack)
    assert (
        message.text == "All quiet: no alerts between Fri 27 Nov 09:00 and Sat 28 Nov 09:00 (UTC)."
    )
    assert [b["type"] for b in message.blocks or []] == ["header", "section"]


def test_a_first_start_sends_no_summary_for_a_period_the_bridge_did_not_run_in(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    # A brand-new install at 12:44: the 09:00 slot is due, but that was no outage.
    clock = Clock(at(28, 12, 44))
    app = make(live_settings, engine, clock, started_at=at(28, 12, 44))
    assert run_job(app, clock, at(28, 12, 44)) == 0
    assert summaries(slack) == []
    assert job_runs(engine) == [(f"digest:{DAILY}", at(28, 9), "skipped")]

    assert run_job(app, clock, at(29, 9, 0, 30)) == 1
    (first,) = summaries(slack)
    assert "late" not in text_of(first)
    assert "not running" not in text_of(first)


def test_replicas_running_the_job_for_one_slot_send_one_summary(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    clock = Clock(at(27, 9, 0, 5))
    apps = [make(live_settings, engine, clock) for _ in range(4)]
    replicas = [services_of(app) for app in apps]
    start = threading.Barrier(len(replicas))
    ran: list[int] = []

    def replica(index: int) -> None:
        start.wait()
        ran.append(run_due(replicas[index]))

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(len(replicas))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(ran) == [0, 0, 0, 1]
    worker(apps[3]).drain()
    assert len(summaries(slack)) == 1

    # Later runs in the same slot find it claimed; the next slot sends the next summary.
    assert run_due(replicas[0]) == 0
    clock.now = at(27, 23)
    assert run_due(replicas[1]) == 0
    clock.now = at(28, 9, 0, 20)
    assert run_due(replicas[2]) == 1
    worker(apps[0]).drain()
    assert len(summaries(slack)) == 2
    assert [slot for _, slot, _ in job_runs(engine)] == [at(27, 9), at(28, 9)]


def test_down_across_two_slots_sends_one_summary_covering_both_periods(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    clock = Clock(at(26, 9, 0, 30))
    app = make(live_settings, engine, clock)
    assert run_job(app, clock, at(26, 9, 0, 30)) == 1
    post(app, clock, at(27, 15), alert("NodeDown", starts_at=iso(at(27, 15)), gpu=None))
    # The bridge is down through 27 Nov 09:00 and 28 Nov 09:00 and comes back at 12:00.
    assert run_job(app, clock, at(28, 12)) == 1
    assert run_job(app, clock, at(28, 12, 0, 30)) == 0
    _, after_outage = summaries(slack)
    assert (after_outage.text or "").startswith("Alert summary Thu 26 Nov 09:00 – Sat 28 Nov 09:00")
    assert "Period 2d · times in UTC · sent 3h late" in text_of(after_outage)
    assert "NodeDown: fired 1" in text_of(after_outage)
    assert [slot for _, slot, _ in job_runs(engine)] == [at(26, 9), at(28, 9)]


def summary_rows(engine: Engine) -> list[dict[str, Any]]:
    return [d for d in deliveries(engine) if d["action"] == "summary"]


@pytest.mark.parametrize(
    "fault",
    [
        lambda s: s.fail_next("chat.postMessage", status=429, retry_after=0),
        lambda s: s.fail_next("chat.postMessage", status=503),
        lambda s: s.drop_connection_next("chat.postMessage"),
    ],
    ids=["429", "503", "connection-dropped"],
)
def test_a_summary_slack_could_not_take_is_retried_by_the_outbox_and_posted_once(
    live_settings: Settings, engine: Engine, slack: FakeSlack, fault: Any
) -> None:
    clock = Clock(at(27, 9, 0, 30))
    app = make(live_settings, engine, clock)
    fault(slack)
    assert run_job(app, clock, at(27, 9, 0, 30)) == 1
    assert run_job(app, clock, at(27, 9, 1)) == 0  # the slot is claimed once
    deliver_until_settled(app)
    (summary,) = summaries(slack)
    assert (summary.text or "").startswith("All quiet: no alerts between Thu 26 Nov 09:00")
    (row,) = summary_rows(engine)
    assert (row["status"], row["attempts"]) == ("delivered", 2)  # both attempts recorded
    assert job_runs(engine) == [(f"digest:{DAILY}", at(27, 9), "ok")]


def dead_summary(
    settings: Settings, engine: Engine, slack: FakeSlack
) -> tuple[Flask, Clock, dict[str, Any]]:
    """A bridge whose summary Slack refused for good: its app, clock and the dead row."""
    clock = Clock(at(27, 9, 0, 30))
    app = make(settings, engine, clock)
    slack.fail_next("chat.postMessage", error="not_in_channel")
    assert run_job(app, clock, at(27, 9, 0, 30)) == 1
    deliver_until_settled(app)
    (row,) = summary_rows(engine)
    assert row["status"] == "dead"
    return app, clock, row


def test_a_summary_slack_refuses_for_good_is_a_visible_dead_letter(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app, clock, row = dead_summary(live_settings, engine, slack)
    assert "not_in_channel" in row["last_error"]
    assert services_of(app).store.outbox_depth()["dead"] == 1
    assert summaries(slack) == []

    run_job(app, clock, at(28, 9, 0, 30))  # the next slot is not held up by it
    (posted,) = summaries(slack)
    assert (posted.text or "").startswith("Alert summary Fri 27 Nov 09:00 – Sat 28 Nov 09:00")
    assert "1 failed delivery" in (posted.text or "")  # and it says the last one failed


def test_schedules_follow_bridge_timezone_and_each_runs_at_its_own_slots(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    settings = replace(live_settings, timezone="Europe/Berlin")
    clock = Clock(at(27, 16, 30))
    app = make(settings, engine, clock, schedules=(DAILY, "0 17 * * 1-5"))
    # Friday 16:30 UTC is 17:30 in Berlin: both schedules have a slot due today.
    assert run_job(app, clock, at(27, 16, 30)) == 2
    # Saturday 08:00:30 UTC is 09:00:30 in Berlin: only the daily one is due.
    assert run_job(app, clock, at(28, 8, 0, 30)) == 1
    texts = [m.text or "" for m in summaries(slack)]
    assert texts[-1].startswith(
        "All quiet: no alerts between Fri 27 Nov 09:00 and Sat 28 Nov 09:00"
    )
    assert "(Europe/Berlin)" in texts[-1]
    # 1-5 is Monday to Friday, as in crontab (APScheduler alone reads it Tuesday to
    # Saturday): Saturday 17:30 in Berlin has no weekday summary due, Monday's has one.
    assert run_job(app, clock, at(28, 16, 30)) == 0
    assert run_job(app, clock, at(30, 16, 30)) == 2  # Monday: Sunday's daily one too
    assert sorted(job_runs(engine)) == [
        ("digest:0 17 * * 1-5", at(27, 16), "ok"),
        ("digest:0 17 * * 1-5", at(30, 16), "ok"),
        (f"digest:{DAILY}", at(27, 8), "ok"),
        (f"digest:{DAILY}", at(28, 8), "ok"),
        (f"digest:{DAILY}", at(30, 8), "ok"),
    ]


def test_summary_goes_through_the_incoming_webhook_when_that_is_configured(
    settings: Settings, engine: Engine, slack: FakeSlack, test_ca: TestCA
) -> None:
    webhook = replace(
        settings, slack_webhook_url=slack.webhook_url, ca_bundle=str(test_ca.ca_bundle)
    )
    clock = Clock(at(28, 9, 0, 30))
    app = make(webhook, engine, clock)
    assert run_job(app, clock, at(28, 9, 0, 30)) == 1
    (posted,) = slack.webhook_posts
    assert posted["text"].startswith("All quiet: no alerts between Fri 27 Nov 09:00")
    assert job_runs(engine) == [(f"digest:{DAILY}", at(28, 9), "ok")]


# -- alert-bridge digest -------------------------------------------------------------------


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "bridge", "digest", *args],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_digest_command_prints_the_last_period_and_send_posts_it(
    live_settings: Settings, engine: Engine, db_url: str, slack: FakeSlack, test_ca: TestCA
) -> None:
    now = datetime.now(UTC)
    clock = Clock(now)
    app = make(live_settings, engine, clock)
    hot = alert(starts_at=iso(now - timedelta(hours=2)))
    post(app, clock, now - timedelta(hours=2), hot)
    post(app, clock, now - timedelta(hours=1), resolved(hot, iso(now - timedelta(hours=1))))
    env = {"BRIDGE_DATABASE_URL": db_url}

    printed = cli(env=env)
    assert printed.returncode == 0, printed.stderr
    assert (
        "GPUTemperatureCritical: fired 1, resolved 1, resolved in 1h on average" in printed.stdout
    )
    assert "All quiet" in cli("--period", "30m", env=env).stdout

    sent = cli(
        "--send",
        env={
            **env,
            "BRIDGE_SLACK_BOT_TOKEN": SLACK_TOKEN,
            "BRIDGE_SLACK_CHANNEL": "#alerts-info",
            "BRIDGE_SLACK_API_URL": slack.api_url,
            "BRIDGE_CA_BUNDLE": str(test_ca.ca_bundle),
        },
    )
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("summary sent: posted to C0ALERTSINFO")
    (message,) = summaries(slack)
    assert "fired 1, resolved 1" in text_of(message)
    assert job_runs(engine) == []  # on demand: no scheduled slot is used up


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--period", "yesterday"], {}, "alert-bridge digest: --period: 'yesterday' is not"),
        ([], {"BRIDGE_TIMEZONE": "Mars/Olympus"}, "alert-bridge digest: BRIDGE_TIMEZONE:"),
        ([], {}, "alert-bridge digest: cannot read the database (OperationalError)"),
    ],
)
def test_digest_command_errors_are_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = cli(*args, env={"BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db", **env})
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(expected)


def test_digest_command_reads_while_a_writer_holds_the_database(
    engine: Engine, db_url: str
) -> None:
    """A summary reads history; it must never wait for (nor hold up) the webhook's writes."""
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers with a lock; PostgreSQL readers never wait")
    base = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    with engine.begin():  # holds the write lock until the command is done
        printed = subprocess.run(
            [sys.executable, "-m", "bridge", "digest", "--period", "1h"],
            cwd=REPO_ROOT,
            env={**base, "BRIDGE_DATABASE_URL": db_url},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert printed.returncode == 0, printed.stderr
    assert "All quiet" in printed.stdout
