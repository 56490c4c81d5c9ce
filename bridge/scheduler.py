"""APScheduler inside `alert-bridge serve`: started by serve, never at import time."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from bridge import jobs
from bridge.digest import job as digest_job
from bridge.reconcile.job import Reconciler
from bridge.services import Services
from bridge.worker import new_worker_id

log = logging.getLogger(__name__)

RECONCILE = "reconcile"

# Seconds between runs. Release runs often so that an alert still firing when
# its window ends is delivered well within a minute.
INTERVALS: dict[str, tuple[Callable[[Services], int], float]] = {
    "sync_windows": (jobs.sync_windows, 30.0),
    "plan_windows": (jobs.plan_windows, 300.0),
    "release_held_alerts": (jobs.release_held_alerts, 15.0),
    "check_watchdog": (jobs.check_watchdog, 15.0),
    "send_reminders": (jobs.send_reminders, 60.0),
    "settle_flaps": (jobs.settle_flaps, 30.0),
    "purge_history": (jobs.purge_history, 3600.0),
    "end_quiet_storms": (jobs.end_quiet_storms, 15.0),
    # Each due summary slot is claimed in the database; the interval is only how
    # soon after its slot a summary goes out.
    "digest": (digest_job.run_due, 30.0),
}


def run_job(name: str, job: Callable[[Services], int], ctx: Services) -> bool:
    """Run one job, record its outcome in /metrics; a failure never stops the scheduler."""
    started = time.time()
    ok = True
    try:
        job(ctx)
    except Exception:
        ok = False
        log.exception("scheduled job %s failed; it runs again at its next interval", name)
    ctx.metrics.record_job(name, started, time.time() - started, ok)
    return ok


def build_scheduler(ctx: Services) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=ctx.settings.timezone)
    for name, (job, seconds) in INTERVALS.items():
        scheduler.add_job(
            run_job,
            "interval",
            seconds=seconds,
            args=(name, job, ctx),
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            # First run at once: windows planned and synced, held alerts released.
            next_run_time=datetime.now(UTC),
        )
    _add_reconcile(scheduler, ctx)
    return scheduler


def _add_reconcile(scheduler: BackgroundScheduler, ctx: Services) -> None:
    """Every BRIDGE_RECONCILE_INTERVAL (0: never), and at once when a webhook was cut."""
    interval = ctx.settings.reconcile_interval_seconds
    if interval <= 0:
        return
    reconciler = Reconciler(ctx, new_worker_id())
    scheduler.add_job(
        run_job,
        "interval",
        seconds=interval,
        args=(RECONCILE, reconciler.run, ctx),
        id=RECONCILE,
        name=RECONCILE,
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )

    def run_soon() -> None:
        with contextlib.suppress(JobLookupError):  # shutting down
            scheduler.modify_job(RECONCILE, next_run_time=datetime.now(UTC))

    reconciler.run_soon = run_soon
    ctx.reconcile_now = reconciler.request


def start(ctx: Services) -> BackgroundScheduler:
    scheduler = build_scheduler(ctx)
    scheduler.start()
    return scheduler
