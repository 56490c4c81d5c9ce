"""The facts of one summary period, read from the database (no clock: every time is an argument).

The period is half-open, [start, end): a transition at exactly a slot boundary
belongs to the summary that starts there, so back-to-back summaries never count
it twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, text

from bridge.db.models import (
    IN_FLIGHT_SQL,
    PENDING_SQL,
    AlertRow,
    DeliveryRow,
    ResponseRow,
    TransitionRow,
)
from bridge.routing import PAGERDUTY
from bridge.silences.matching import Matcher
from bridge.silences.recurrence import RecurrenceError, occurrences
from bridge.store.read_model import ALWAYS_FIRING
from bridge.store.windows import window_rows

# Bounds on what one summary reads; the builder shows fewer still.
MAX_FIRING = 500
MAX_NOISIEST = 10
MAX_FAILED = 10
# Maintenance windows starting within this horizon count as upcoming.
UPCOMING_HORIZON = timedelta(days=7)


@dataclass(frozen=True)
class FiringAlert:
    alertname: str
    node: str
    severity: str
    since: datetime
    in_maintenance: bool = False
    flapping: bool = False


@dataclass(frozen=True)
class AlertnameStats:
    alertname: str
    fired: int
    resolved: int
    mean_resolve_seconds: float | None = None
    # First acknowledgements (Slack or PagerDuty) made in the period, and their mean
    # time from the alert starting.
    acknowledged: int = 0
    mean_ack_seconds: float | None = None


@dataclass(frozen=True)
class NoisyAlert:
    alertname: str
    node: str
    fired: int


@dataclass(frozen=True)
class FailedDelivery:
    channel: str
    action: str
    alertname: str
    node: str
    error: str
    at: datetime


@dataclass(frozen=True)
class WindowFact:
    matchers: str
    comment: str
    created_by: str
    starts_at: datetime
    ends_at: datetime
    cron: str | None = None


@dataclass(frozen=True)
class DigestFacts:
    start: datetime
    end: datetime
    # When the facts were read: "firing now" and the windows are as of this time.
    now: datetime
    firing: tuple[FiringAlert, ...] = ()
    firing_total: int = 0
    alertnames: tuple[AlertnameStats, ...] = ()
    noisiest: tuple[NoisyAlert, ...] = ()
    mean_resolve_seconds: float | None = None
    mean_ack_seconds: float | None = None
    pages_sent: int = 0
    pages_dry_run: int = 0
    failed: tuple[FailedDelivery, ...] = ()
    failed_total: int = 0
    # Deliveries that failed at least once and are still being retried.
    retrying: int = 0
    active_windows: tuple[WindowFact, ...] = ()
    upcoming_windows: tuple[WindowFact, ...] = ()

    @property
    def fired(self) -> int:
        return sum(a.fired for a in self.alertnames)

    @property
    def resolved(self) -> int:
        return sum(a.resolved for a in self.alertnames)

    @property
    def quiet(self) -> bool:
        """Nothing firing, nothing happened, nothing failed: the short message."""
        return not (self.firing_total or self.alertnames or self.failed_total or self.retrying)


def read_facts(conn: Connection, start: datetime, end: datetime, now: datetime) -> DigestFacts:
    """Everything a summary of [start, end) shows, with current state as of `now`."""
    firing, firing_total = _firing(conn)
    alertnames, mean = _alertnames(conn, start, end)
    alertnames, mean_ack = _with_acks(conn, start, end, alertnames)
    pages_sent, pages_dry_run = _pages(conn, start, end)
    failed, failed_total = _failed(conn, start, end)
    active, upcoming = _windows(conn, now)
    return DigestFacts(
        start=start,
        end=end,
        now=now,
        firing=firing,
        firing_total=firing_total,
        alertnames=alertnames,
        noisiest=_noisiest(conn, start, end),
        mean_resolve_seconds=mean,
        mean_ack_seconds=mean_ack,
        pages_sent=pages_sent,
        pages_dry_run=pages_dry_run,
        failed=failed,
        failed_total=failed_total,
        retrying=_retrying(conn),
        active_windows=active,
        upcoming_windows=upcoming,
    )


def _firing(conn: Connection) -> tuple[tuple[FiringAlert, ...], int]:
    where = (AlertRow.status == "firing", AlertRow.alertname.not_in(ALWAYS_FIRING))
    total = conn.execute(select(func.count()).select_from(AlertRow).where(*where)).scalar_one()
    rows = conn.execute(
        select(
            AlertRow.alertname,
            AlertRow.node,
            AlertRow.severity,
            AlertRow.starts_at,
            AlertRow.suppressed_by,
            AlertRow.flapping_since,
        )
        .where(*where)
        .order_by(AlertRow.node, AlertRow.alertname, AlertRow.starts_at)
        .limit(MAX_FIRING)
    )
    alerts = tuple(
        FiringAlert(
            alertname=r.alertname,
            node=r.node,
            severity=r.severity,
            since=r.starts_at,
            in_maintenance=r.suppressed_by is not None,
            flapping=r.flapping_since is not None,
        )
        for r in rows
    )
    return alerts, int(total)


def _in_period(start: datetime, end: datetime) -> Any:
    return and_(TransitionRow.at >= start, TransitionRow.at < end)


def _starts_episode() -> Any:
    # A firing transition starts an episode when its decision was a new firing or a
    # re-fire; flap control and windows only prefix the reason (`suppressed_refire`,
    # `flapping_new_firing`), while `window_ended_still_firing` continues an episode.
    return and_(
        TransitionRow.status == "firing",
        or_(TransitionRow.reason.like("%new_firing"), TransitionRow.reason.like("%refire")),
    )


def _alertnames(
    conn: Connection, start: datetime, end: datetime
) -> tuple[tuple[AlertnameStats, ...], float | None]:
    fired = func.sum(case((_starts_episode(), 1), else_=0))
    resolved = func.sum(case((TransitionRow.status == "resolved", 1), else_=0))
    counts = conn.execute(
        select(TransitionRow.alertname, fired.label("fired"), resolved.label("resolved"))
        .where(_in_period(start, end), TransitionRow.alertname.not_in(ALWAYS_FIRING))
        .group_by(TransitionRow.alertname)
    ).all()
    # Time to resolve: from Prometheus's startsAt to the resolve reaching the bridge.
    # Computed here because date arithmetic differs between SQLite and PostgreSQL.
    durations: dict[str, list[float]] = defaultdict(list)
    for r in conn.execute(
        select(TransitionRow.alertname, TransitionRow.starts_at, TransitionRow.at).where(
            _in_period(start, end),
            TransitionRow.status == "resolved",
            TransitionRow.alertname.not_in(ALWAYS_FIRING),
        )
    ):
        durations[r.alertname].append(max(0.0, (r.at - r.starts_at).total_seconds()))
    stats = [
        AlertnameStats(
            alertname=r.alertname,
            fired=int(r.fired or 0),
            resolved=int(r.resolved or 0),
            mean_resolve_seconds=_mean(durations.get(r.alertname, [])),
        )
        for r in counts
        if r.fired or r.resolved
    ]
    stats.sort(key=lambda s: (-s.fired, -s.resolved, s.alertname))
    every = [d for values in durations.values() for d in values]
    return tuple(stats), _mean(every)


def _with_acks(
    conn: Connection, start: datetime, end: datetime, stats: tuple[AlertnameStats, ...]
) -> tuple[tuple[AlertnameStats, ...], float | None]:
    """Each alert name's acknowledgements in the period and their mean time to acknowledge."""
    seconds: dict[str, list[float]] = defaultdict(list)
    for r in conn.execute(
        select(AlertRow.alertname, ResponseRow.starts_at, ResponseRow.acked_at)
        .join(AlertRow, AlertRow.id == ResponseRow.alert_id)
        .where(ResponseRow.acked_at >= start, ResponseRow.acked_at < end)
    ):
        seconds[r.alertname].append(max(0.0, (r.acked_at - r.starts_at).total_seconds()))
    known = {s.alertname for s in stats}
    merged = [
        replace(
            s, acknowledged=len(seconds[s.alertname]), mean_ack_seconds=_mean(seconds[s.alertname])
        )
        if s.alertname in seconds
        else s
        for s in stats
    ] + [
        AlertnameStats(name, 0, 0, acknowledged=len(values), mean_ack_seconds=_mean(values))
        for name, values in sorted(seconds.items())
        if name not in known
    ]
    return tuple(merged), _mean([v for values in seconds.values() for v in values])


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _noisiest(conn: Connection, start: datetime, end: datetime) -> tuple[NoisyAlert, ...]:
    """Alerts (alertname on node) that fired more than once in the period, most first."""
    fired = func.count().label("fired")
    rows = conn.execute(
        select(TransitionRow.alertname, TransitionRow.node, fired)
        .where(
            _in_period(start, end),
            _starts_episode(),
            TransitionRow.alertname.not_in(ALWAYS_FIRING),
        )
        .group_by(TransitionRow.alertname, TransitionRow.node)
        .having(func.count() > 1)
        .order_by(fired.desc(), TransitionRow.alertname, TransitionRow.node)
        .limit(MAX_NOISIEST)
    )
    return tuple(NoisyAlert(r.alertname, r.node, int(r.fired)) for r in rows)


def _finished_in(start: datetime, end: datetime) -> Any:
    return and_(DeliveryRow.finished_at >= start, DeliveryRow.finished_at < end)


def _pages(conn: Connection, start: datetime, end: datetime) -> tuple[int, int]:
    rows = conn.execute(
        select(DeliveryRow.status, func.count().label("n"))
        .where(
            DeliveryRow.channel == PAGERDUTY,
            DeliveryRow.action == "trigger",
            DeliveryRow.status.in_(("delivered", "dry_run")),
            _finished_in(start, end),
        )
        .group_by(DeliveryRow.status)
    )
    by_status = {r.status: int(r.n) for r in rows}
    return by_status.get("delivered", 0), by_status.get("dry_run", 0)


def _failed(
    conn: Connection, start: datetime, end: datetime
) -> tuple[tuple[FailedDelivery, ...], int]:
    where = (DeliveryRow.status == "dead", _finished_in(start, end))
    total = conn.execute(select(func.count()).select_from(DeliveryRow).where(*where)).scalar_one()
    rows = conn.execute(
        select(
            DeliveryRow.channel,
            DeliveryRow.action,
            DeliveryRow.last_error,
            DeliveryRow.finished_at,
            AlertRow.alertname,
            AlertRow.node,
        )
        .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
        .where(*where)
        .order_by(DeliveryRow.finished_at.desc(), DeliveryRow.id.desc())
        .limit(MAX_FAILED)
    )
    failed = tuple(
        FailedDelivery(
            channel=r.channel,
            action=r.action,
            alertname=r.alertname,
            node=r.node,
            error=r.last_error or "",
            at=r.finished_at,
        )
        for r in rows
    )
    return failed, int(total)


def _retrying(conn: Connection) -> int:
    # One count per state, each with its partial index's own predicate: `status IN
    # (…)` matches neither index, and SQLite then reads every delivery kept (issue 23).
    return sum(
        int(
            conn.execute(
                select(func.count())
                .select_from(DeliveryRow)
                .where(text(state), DeliveryRow.attempts > 0)
            ).scalar_one()
        )
        for state in (PENDING_SQL, IN_FLIGHT_SQL)
    )


def _windows(
    conn: Connection, now: datetime
) -> tuple[tuple[WindowFact, ...], tuple[WindowFact, ...]]:
    active: list[WindowFact] = []
    upcoming: list[WindowFact] = []
    for window, stored in window_rows(conn):
        if window["expired_at"] is not None:
            continue
        current = next((o for o in stored if o["starts_at"] <= now < o["ends_at"]), None)
        if current is not None:
            active.append(_window_fact(window, current["starts_at"], current["ends_at"]))
            continue
        following = _next_occurrence(window, stored, now)
        if following is not None and following[0] <= now + UPCOMING_HORIZON:
            upcoming.append(_window_fact(window, *following))
    active.sort(key=lambda w: (w.ends_at, w.matchers))
    upcoming.sort(key=lambda w: (w.starts_at, w.matchers))
    return tuple(active), tuple(upcoming)


def _next_occurrence(
    window: dict[str, Any], stored: list[dict[str, Any]], now: datetime
) -> tuple[datetime, datetime] | None:
    planned = [(o["starts_at"], o["ends_at"]) for o in stored if o["starts_at"] > now]
    if planned:
        return min(planned)
    if window["cron"] is None:
        return None
    # Recurring windows are planned only a day ahead; compute further occurrences.
    try:
        future = occurrences(
            window["cron"],
            window["timezone"] or "UTC",
            timedelta(seconds=window["duration_seconds"] or 0),
            not_before=max(now, window["starts_at"]),
            until=now + UPCOMING_HORIZON,
        )
        return next((o for o in future if o[0] > now), None)
    except RecurrenceError:
        return None


def _window_fact(window: dict[str, Any], starts_at: datetime, ends_at: datetime) -> WindowFact:
    matchers = ", ".join(str(Matcher.from_api(m)) for m in window["matchers"])
    return WindowFact(
        matchers=matchers,
        comment=window["comment"],
        created_by=window["created_by"],
        starts_at=starts_at,
        ends_at=ends_at,
        cron=window["cron"],
    )
