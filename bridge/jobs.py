"""Periodic work, as plain functions of the app context (the scheduler only calls them).

Each is safe to run on several replicas at once: they claim rows in the
database (leases, compare-and-set, unique constraints) before acting.
"""

from __future__ import annotations

import logging

from bridge.store.suppression import release_suppressed
from bridge.web.context import BridgeContext

log = logging.getLogger(__name__)


def sync_windows(ctx: BridgeContext) -> int:
    """Create pending Alertmanager silences and expire deleted ones (retries until done)."""
    return ctx.windows.sync_due()


def plan_windows(ctx: BridgeContext) -> int:
    """Create the next 24 h of occurrences of every recurring window."""
    planned = ctx.windows.plan()
    if planned:
        ctx.windows.sync_due()
    return planned


def release_held_alerts(ctx: BridgeContext) -> int:
    """Deliver alerts a window held back that still fire after it ended."""
    with ctx.store.engine.begin() as conn:
        released = release_suppressed(conn, ctx.config.routing, ctx.clock())
    if released:
        log.info("%d alert(s) still firing after their maintenance window: delivering", released)
        ctx.worker.wake()
    return released
