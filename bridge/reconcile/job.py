"""One reconcile round, as the delivery side's scheduler runs it (bridge/scheduler.py).

lease -> fetch every Alertmanager -> read what the bridge knows -> decide (pure) ->
apply in one transaction: resolves and additions go through the store's ingest, exactly
as a webhook's alerts would (dedup, windows, flap control, storm folding, outbox), and
the resolves' notifications carry the reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import requests
from sqlalchemy import Connection, select

from bridge.alerts import Alert, PayloadError, WebhookPayload, parse_alert
from bridge.db.models import AlertRow
from bridge.reconcile import rows
from bridge.reconcile.decide import decide_round
from bridge.reconcile.fetch import TIMEOUT_SECONDS, fetch
from bridge.reconcile.model import ERROR, OK, AmAlert, Observation, Plan, Resolve
from bridge.services import Services
from bridge.store.alert_rows import InsertRace
from bridge.store.ingest import ingest
from bridge.textsafe import one_line

log = logging.getLogger(__name__)

# Another replica's round that died keeps the lease this long beyond its fetches.
LEASE_MARGIN_SECONDS = 60.0
# Attempts of the apply transaction when another replica creates an alert first.
APPLY_ATTEMPTS = 3
# The receiver a reconcile's payloads say they came from (shown nowhere but the snapshot).
RECEIVER = "reconcile"


def resolved_alert(resolve: Resolve, now: datetime) -> Alert:
    """The resolve Alertmanager would have sent, had it sent one."""
    alert = resolve.alert
    return Alert(
        status="resolved",
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        ends_at=now,
        generator_url=alert.generator_url,
        fingerprint=alert.fingerprint,
    )


def webhook_alert(alert: AmAlert, index: int) -> Alert:
    """The alert as a webhook would have carried it, validated by the webhook's own parser."""
    return parse_alert(
        {
            "status": "firing",
            "labels": alert.labels,
            "annotations": alert.annotations,
            "startsAt": alert.starts_at.isoformat(),
            "endsAt": alert.ends_at.isoformat() if alert.ends_at else "0001-01-01T00:00:00Z",
            "generatorURL": alert.generator_url,
            "fingerprint": alert.fingerprint,
        },
        index,
    )


def payload_of(alerts: Sequence[Alert], status: str) -> WebhookPayload:
    return WebhookPayload(
        version="4",
        group_key=RECEIVER,
        status=status,
        receiver=RECEIVER,
        group_labels={},
        common_labels={},
        common_annotations={},
        external_url="",
        truncated_alerts=0,
        alerts=tuple(alerts),
    )


class Reconciler:
    """Runs rounds for one process; `request` asks for one at once (a cut webhook)."""

    def __init__(self, ctx: Services, worker: str, session: requests.Session | None = None) -> None:
        self._ctx = ctx
        self._worker = worker
        self._session = session or requests.Session()
        self._urgent = threading.Event()
        self._last_failure: str | None = None  # the reason last logged as a WARNING
        self._last_unvouched: tuple[str, ...] = ()  # the senders last warned about
        self.run_soon: Callable[[], None] = lambda: None

    def request(self) -> None:
        """A webhook said Alertmanager cut alerts from it: ingest them now, not in two rounds."""
        self._urgent.set()
        self.run_soon()

    def run(self, _ctx: Services | None = None) -> int:
        """One round; returns the number of alerts resolved or added."""
        ctx = self._ctx
        settings = ctx.settings
        urgent = self._urgent.is_set()
        self._urgent.clear()
        started = ctx.clock()
        spacing = timedelta(seconds=settings.reconcile_interval_seconds / 2)
        lease = timedelta(
            seconds=LEASE_MARGIN_SECONDS + 3 * TIMEOUT_SECONDS * len(settings.alertmanager_urls)
        )
        with ctx.store.engine.begin() as conn:
            won = rows.take_lease(
                conn, self._worker, started, lease, None if urgent else started - spacing
            )
        if not won:
            log.debug("reconcile: another replica's round is running or just ran")
            if urgent:
                self._urgent.set()  # the cut webhook's alerts: at this replica's next round
            return 0
        try:
            return self._round(started, urgent)
        except Exception:
            ctx.metrics.reconcile.rounds.labels(ERROR).inc()
            with ctx.store.engine.begin() as conn:
                rows.finish_round(
                    conn, self._worker, started, ctx.clock(), ERROR, "the bridge's side failed"
                )
            raise

    def _round(self, started: datetime, urgent: bool) -> int:
        ctx = self._ctx
        settings = ctx.settings
        answers = [fetch(self._session, url) for url in settings.alertmanager_urls]
        now = ctx.clock()
        with ctx.store.read() as conn:
            firing = rows.firing_alerts(conn, ctx.config.routing)
            previous = rows.observations(conn)
            listed = {a.fingerprint for x in answers for a in getattr(x, "alerts", ())}
            # What Alertmanager lists is mostly what fires in the bridge: their episodes are
            # known already; only the rest is looked up (a short list, read by its index).
            known = {a.fingerprint: a.starts_at for a in firing if a.fingerprint in listed}
            known.update(rows.episodes(conn, listed - known.keys()))
            windows = rows.window_silences(conn, now)
        plan = decide_round(
            answers=answers,
            firing=firing,
            previous=previous,
            known=known,
            receivers=frozenset(settings.alertmanager_receivers),
            windows=windows,
            round_started=started,
            now=now,
            grace=timedelta(seconds=settings.reconcile_grace_seconds),
            urgent=urgent,
        )
        for attempt in range(1, APPLY_ATTEMPTS + 1):
            try:
                with ctx.store.engine.begin() as conn:
                    resolved, added = self._apply(conn, plan, previous, started, now)
                break
            except InsertRace:
                if attempt == APPLY_ATTEMPTS:
                    raise
        self._report(plan, resolved, added, now)
        if resolved or added:
            ctx.wake(None)
        return len(resolved) + added

    def _apply(
        self,
        conn: Connection,
        plan: Plan,
        previous: Mapping[str, Observation],
        started: datetime,
        now: datetime,
    ) -> tuple[list[Resolve], int]:
        ctx = self._ctx
        resolved: list[Resolve] = []
        if plan.resolves:
            alerts = [resolved_alert(r, now) for r in plan.resolves]
            ingest(
                conn,
                payload_of(alerts, "resolved"),
                ctx.config.routing,
                now,
                ctx.flap_limits,
                ctx.storm_limits,
            )
            # Dedup decided: only the alerts whose row this ingest changed were resolved by it
            # (a webhook's resolve that got there first leaves nothing to do).
            changed = set(
                conn.execute(
                    select(AlertRow.fingerprint).where(
                        AlertRow.fingerprint.in_([r.alert.fingerprint for r in plan.resolves]),
                        AlertRow.status == "resolved",
                        AlertRow.last_change_at == now,
                    )
                ).scalars()
            )
            resolved = [r for r in plan.resolves if r.alert.fingerprint in changed]
        added = 0
        if plan.additions:
            alerts = []
            for index, am_alert in enumerate(plan.additions):
                try:
                    alerts.append(webhook_alert(am_alert, index))
                except PayloadError as exc:
                    log.warning(
                        "reconcile: alert %s cannot be ingested: %s", am_alert.fingerprint, exc
                    )
            result = ingest(
                conn,
                payload_of(alerts, "firing"),
                ctx.config.routing,
                now,
                ctx.flap_limits,
                ctx.storm_limits,
            )
            added = result.received - result.duplicates
        rows.save_observations(conn, plan.observations, previous, now)
        rows.stamp_resolves(
            conn, {r.alert.fingerprint: (r.alert.starts_at, r.reason) for r in resolved}, now
        )
        rows.finish_round(conn, self._worker, started, now, plan.outcome, plan.detail)
        return resolved, added

    def _report(self, plan: Plan, resolved: list[Resolve], added: int, now: datetime) -> None:
        metrics = self._ctx.metrics.reconcile
        metrics.rounds.labels(plan.outcome).inc()
        if plan.outcome != OK:
            # One WARNING when the reason appears or changes, not one a minute for as long
            # as an Alertmanager is away: /metrics and the console count every round.
            failure = f"{plan.outcome}: {plan.detail}"
            level = logging.DEBUG if failure == self._last_failure else logging.WARNING
            log.log(level, "reconcile: round concluded nothing (%s): %s", plan.outcome, plan.detail)
            self._last_failure = failure
            return
        if self._last_failure is not None:
            log.info("reconcile: rounds conclude again (%s)", plan.detail)
            self._last_failure = None
        metrics.last_success.set(now.timestamp())
        if plan.unvouched != self._last_unvouched:
            if plan.unvouched:
                log.warning(
                    "reconcile: alerts sent by Alertmanager(s) that are not in "
                    "BRIDGE_ALERTMANAGER_URL are gone from every listing the bridge reads; "
                    "left firing, not resolved (add those Alertmanagers' API URLs): %s",
                    ", ".join(one_line(u) for u in plan.unvouched),
                )
            self._last_unvouched = plan.unvouched
        for r in resolved:
            metrics.resolves.labels(r.kind).inc()
            name = r.alert.labels.get("alertname", "")
            node = r.alert.labels.get("node", "")
            log.info(
                "reconcile: resolved %s%s (%s): %s",
                name,
                f" on {node}" if node else "",
                r.alert.fingerprint,
                r.reason,
            )
        if added:
            metrics.added.inc(added)
            log.info(
                "reconcile: %d alert(s) active in Alertmanager that no webhook brought: ingested",
                added,
            )
        for a in plan.additions:
            log.info(
                "reconcile: %s (%s) active in Alertmanager, unknown to the bridge",
                a.place,
                a.fingerprint,
            )
