"""Real `alert-bridge serve` processes: each summary slot is sent once, however many bridges run
and however long they were down.

Waiting is on facts, never on fixed sleeps: each bridge's /metrics says when its
digest job last ran, so "every bridge has had its chance at this slot" is observable.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, insert, select

from bridge.db.models import JobRunRow
from bridge.digest.build import as_text
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.integration.conftest import SLACK_TOKEN
from tests.support.bridge_proc import bridge_env, start_bridge
from tests.support.procs import Proc, wait_until

pytestmark = pytest.mark.slow

DIGEST_CHANNEL = "#alerts-info"


def digest_env(
    tmp_path: Path, db_url: str, slack: FakeSlack, ca: TestCA, schedule: str
) -> dict[str, str]:
    config = tmp_path / "bridge.yml"
    config.write_text(
        yaml.safe_dump({"digest": {"schedules": [schedule], "channel": DIGEST_CHANNEL}})
    )
    return bridge_env(
        tmp_path,
        db_url,
        BRIDGE_CONFIG=str(config),
        BRIDGE_SLACK_BOT_TOKEN=SLACK_TOKEN,
        BRIDGE_SLACK_CHANNEL="#alerts",
        BRIDGE_SLACK_API_URL=slack.api_url,
        BRIDGE_CA_BUNDLE=str(ca.ca_bundle),
        BRIDGE_TIMEZONE="UTC",
        # Nothing else may post meanwhile: no dead-man's page while no Watchdog comes.
        BRIDGE_WATCHDOG_TIMEOUT="1h",
    )


def digest_metrics(proc: Proc) -> dict[str, float]:
    """This bridge's digest job: when it last started a run, and how many runs ended ok."""
    text = requests.get(f"{proc.url}/metrics", timeout=5).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("job") != "digest":
                continue
            if sample.name == "alert_bridge_job_last_run_timestamp_seconds":
                found["last_run"] = sample.value
            elif sample.name == "alert_bridge_job_runs_total":
                found[f"runs_{sample.labels['outcome']}"] = sample.value
    return found


def job_runs(engine: Engine) -> list[tuple[datetime, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(JobRunRow.slot, JobRunRow.outcome).order_by(JobRunRow.slot))
        return [(r.slot, r.outcome) for r in rows]


def sent_slots(engine: Engine) -> list[datetime]:
    return [slot for slot, outcome in job_runs(engine) if outcome == "ok"]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_bridges_sharing_postgresql_send_each_summary_once(
    tmp_path: Path, db_url: str, engine: Engine, slack: FakeSlack, test_ca: TestCA
) -> None:
    env = digest_env(tmp_path, db_url, slack, test_ca, "* * * * *")
    with start_bridge(tmp_path, env, "bridge-a") as a, start_bridge(tmp_path, env, "bridge-b") as b:
        boundary = (time.time() // 60 + 1) * 60
        # Both run the job every 30 s: once each has started a run after the next
        # minute boundary, both have tried to claim that minute's slot.
        wait_until(
            lambda: all(digest_metrics(p).get("last_run", 0) >= boundary for p in (a, b)),
            timeout=120,
            what="both bridges to run the digest job after the minute boundary",
            procs=[a, b],
        )
        assert all(digest_metrics(p).get("runs_failed", 0) == 0 for p in (a, b))
        # Summaries go out through the outbox: wait for the last one queued.
        wait_until(
            lambda: len(slack.top_level(DIGEST_CHANNEL)) >= len(sent_slots(engine)) or None,
            timeout=30,
            what="every queued summary posted",
            procs=[a, b],
        )

    runs = job_runs(engine)
    slots = sent_slots(engine)
    assert datetime.fromtimestamp(boundary, UTC) in slots
    # The slot that was due when they started is skipped (a first start is no outage);
    # every later one is sent.
    assert [outcome for _, outcome in runs] in (
        ["ok"] * len(runs),
        ["skipped"] + ["ok"] * (len(runs) - 1),
    )
    messages = slack.top_level(DIGEST_CHANNEL)
    assert len(messages) == len(slots)
    # One summary per slot, each naming the end of its own (quiet) period.
    ends = sorted(
        slot
        for slot in slots
        for m in messages
        if f"and {slot:%a %d %b %H:%M} (UTC)" in (m.text or "")
    )
    assert ends == slots


@pytest.mark.parametrize("db_url", ["postgres", "sqlite"], indirect=True)
def test_bridge_down_across_two_slots_sends_one_summary_at_start(
    tmp_path: Path, db_url: str, engine: Engine, slack: FakeSlack, test_ca: TestCA
) -> None:
    # A daily summary whose latest slot was an hour ago; the last one sent was two days
    # before that, so the bridge was down across two slots.
    latest = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    schedule = f"{latest.minute} {latest.hour} * * *"
    last_sent = latest - timedelta(days=2)
    with engine.begin() as conn:
        conn.execute(
            insert(JobRunRow).values(
                job=f"digest:{schedule}",
                slot=last_sent,
                claimed_by="before-the-outage",
                started_at=last_sent,
                finished_at=last_sent,
                outcome="ok",
            )
        )
    env = digest_env(tmp_path, db_url, slack, test_ca, schedule)
    with start_bridge(tmp_path, env) as bridge:
        slack.wait_for_messages(1, timeout=30)
        # A second run of the job after the summary would send a missed slot if any were left.
        wait_until(
            lambda: digest_metrics(bridge).get("runs_ok", 0) >= 2,
            timeout=60,
            what="the digest job to run a second time",
            procs=[bridge],
        )

    (message,) = slack.top_level(DIGEST_CHANNEL)
    assert (message.text or "") == (
        f"All quiet: no alerts between {last_sent:%a %d %b %H:%M} "
        f"and {latest:%a %d %b %H:%M} (UTC)."
    )
    # An hour late, plus however long the minute had run and the start took.
    late = re.search(
        r"sent (1h(?: [0-2]m)?) late: the bridge was not running", as_text(message.blocks or [])
    )
    assert late, as_text(message.blocks or [])
    assert job_runs(engine) == [(last_sent, "ok"), (latest, "ok")]
