"""The scheduled summary: each configured slot is summarised once, whatever the number of replicas.

Every replica runs `run_due` every 30 s. For each schedule it takes only the
latest due slot (bridge/slots.py) and claims it in `job_runs`; the unique
(job, slot) lets exactly one replica win. So a bridge that was down across
several slots sends one summary when it is back, not one per missed slot, and
that summary covers everything since the last summary that went out (at most
MAX_PERIOD). A slot is sent however late it is (within slots.LOOKBACK): the one
summary after an outage is the most useful one, and the message says it is late.
A schedule's first slot is skipped when the bridge started after it (a new
install, or a new schedule): that was no outage, and there is nothing to report.

The summary is queued in the outbox in the transaction that records the slot,
and delivered like every other Slack message: the same sender, retries with
backoff, every attempt recorded, a dead letter if Slack refuses it for good.
A replica that dies between its claim and that transaction loses the slot's
message; the next summary then covers the lost period.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from bridge.db.models import JobRunRow
from bridge.digest.build import build_digest
from bridge.digest.config import JOB_PREFIX, digest_channel, digest_schedules
from bridge.digest.facts import read_facts
from bridge.services import Services
from bridge.slots import latest_slot, previous_slot
from bridge.store.job_runs import claim_slot, finish_slot, ran_before
from bridge.store.rows import add_summary

log = logging.getLogger(__name__)

FIRST_START = "first start: the bridge was not running during that period"
# The longest period one summary covers, however long ago the last one went out.
MAX_PERIOD = timedelta(days=7)


def run_due(ctx: Services) -> int:
    """Summarise every schedule's latest due slot that no replica has claimed; returns how many."""
    now = ctx.clock()
    ran = 0
    for cron in digest_schedules(ctx.config.raw):
        ran += run_slot(ctx, cron, now)
    return ran


def run_slot(ctx: Services, cron: str, now: datetime) -> bool:
    """Claim and send the latest slot of `cron` due at `now`; False when there is nothing to do."""
    timezone = ctx.settings.timezone
    slot = latest_slot(cron, timezone, now)
    if slot is None:
        return False
    job = f"{JOB_PREFIX}{cron}"
    engine = ctx.store.engine
    with engine.begin() as conn:
        if not claim_slot(conn, job, slot, _worker_id(), now):
            return False
        if not ran_before(conn, job, slot) and ctx.started_at > slot:
            # A first start (or a new schedule): the bridge did not run through that
            # period, so a summary of it would report nothing, and "late" would be untrue.
            finish_slot(conn, job, slot, "skipped", FIRST_START, now)
            log.info("summary for %s (%s) not sent: %s", slot.isoformat(), job, FIRST_START)
            return False
        start = period_start(conn, job, cron, timezone, slot)
    with ctx.store.read() as conn:  # never holds up the webhook's writes
        facts = read_facts(conn, start, slot, ctx.clock())
    text, blocks = build_digest(facts, timezone)
    with engine.begin() as conn:
        delivery = add_summary(conn, text, blocks, digest_channel(ctx.config.raw), slot, now)
        finish_slot(conn, job, slot, "ok", f"queued as delivery {delivery}", ctx.clock())
    log.info("summary for %s (%s) queued as delivery %d", slot.isoformat(), job, delivery)
    ctx.wake(1)
    return True


def period_start(conn: Connection, job: str, cron: str, timezone: str, slot: datetime) -> datetime:
    """The previous slot, or the last summary sent if earlier (at most MAX_PERIOD back)."""
    earliest = slot - MAX_PERIOD
    previous = previous_slot(cron, timezone, slot)
    start = max(previous, earliest) if previous is not None else earliest
    last_sent = conn.execute(
        select(func.max(JobRunRow.slot)).where(
            JobRunRow.job == job, JobRunRow.slot < slot, JobRunRow.outcome == "ok"
        )
    ).scalar_one_or_none()
    if last_sent is not None and last_sent < start:
        start = max(last_sent, earliest)
    return start


def _worker_id() -> str:
    """Which replica sent a summary, for operators reading job_runs."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]
