"""Periodic work, as plain functions of the shared services (the scheduler only calls them).

Each is safe to run on several replicas at once: they claim rows in the
database (leases, compare-and-set, unique constraints) before acting.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bridge import watchdog
from bridge.services import Services
from bridge.store.alert_rows import InsertRace
from bridge.store.scheduled import due_reminders, purge_old, settle_flapping
from bridge.store.storm_rows import end_storms
from bridge.store.suppression import release_suppressed

log = logging.getLogger(__name__)


def sync_windows(ctx: Services) -> int:
    """Create pending Alertmanager silences and expire deleted ones (retries until done)."""
    return ctx.windows.sync_due()


def plan_windows(ctx: Services) -> int:
    """Create the next 24 h of occurrences of every recurring window."""
    planned = ctx.windows.plan()
    if planned:
        ctx.windows.sync_due()
    return planned


def release_held_alerts(ctx: Services) -> int:
    """Deliver alerts a window held back that still fire after it ended."""
    with ctx.store.engine.begin() as conn:
        released = release_suppressed(conn, ctx.config.routing, ctx.clock(), ctx.storm_limits)
    if released:
        log.info("%d alert(s) still firing after their maintenance window: delivering", released)
        ctx.wake(None)
    return released


def check_watchdog(ctx: Services) -> int:
    """Page once when the Watchdog stops arriving; resolve when it is back."""
    settings = ctx.settings
    try:
        with ctx.store.engine.begin() as conn:
            result = watchdog.check(
                conn,
                ctx.config.routing,
                started_at=ctx.started_at,
                now=ctx.clock(),
                timeout=timedelta(seconds=settings.watchdog_timeout_seconds),
                grace=timedelta(seconds=settings.watchdog_grace_seconds),
            )
    except InsertRace:
        log.info("dead-man's switch: another replica raised it at the same moment")
        return 0
    if result is not None and result.notifications:
        log.warning("dead-man's switch: %s", "Watchdog missing" if result.new else "Watchdog back")
        ctx.wake(None)
    return result.notifications if result else 0


def send_reminders(ctx: Services) -> int:
    """A critical alert firing for hours gets a reminder in its thread, not a new page."""
    after = timedelta(seconds=ctx.settings.reminder_after_seconds)
    with ctx.store.engine.begin() as conn:
        created = due_reminders(conn, ctx.clock(), after)
    if created:
        ctx.wake(None)
    return created


def settle_flaps(ctx: Services) -> int:
    """Alerts calm again after flapping: one message, and catch up PagerDuty."""
    with ctx.store.engine.begin() as conn:
        settled = settle_flapping(conn, ctx.config.routing, ctx.flap_limits, ctx.clock())
    if settled:
        ctx.wake(None)
    return settled


def purge_history(ctx: Services) -> int:
    """Delete resolved alerts and finished deliveries older than BRIDGE_RETENTION."""
    cutoff = ctx.clock() - timedelta(seconds=ctx.settings.retention_seconds)
    counts = purge_old(ctx.store.engine, cutoff)
    if any(counts.values()):
        log.info("retention: purged %s", ", ".join(f"{v} {k}" for k, v in counts.items() if v))
    return sum(counts.values())


def end_quiet_storms(ctx: Services) -> int:
    """Resolve storm incidents: no firing for the storm window, every folded alert resolved."""
    with ctx.store.engine.begin() as conn:
        ended = end_storms(conn, ctx.storm_limits.window, ctx.clock())
    if ended:
        ctx.wake(None)
    return ended
