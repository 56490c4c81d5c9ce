"""The schema. Alembic migrations in `migrations/` are the only way it changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python on every database (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        result: datetime = value.replace(tzinfo=UTC)
        return result


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# The predicate of the partial index of flapping alerts.
FLAPPING_SQL = "flapping_since IS NOT NULL"


class AlertRow(Base):
    """One row per alert fingerprint: the state of its current episode."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(128), unique=True)
    alertname: Mapped[str] = mapped_column(String(255), index=True, default="")
    severity: Mapped[str] = mapped_column(String(32), default="")
    node: Mapped[str] = mapped_column(String(255), default="")
    # '' marks a row inserted by the ingest upsert that no alert has filled yet.
    status: Mapped[str] = mapped_column(String(16), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    generator_url: Mapped[str] = mapped_column(Text, default="")
    # The externalURL of the Alertmanager whose webhook last carried it (NULL: none since
    # this column exists, or only reconciliation did): reconciliation resolves an alert
    # only when an Alertmanager it reads is known to send for that URL.
    sender: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Channels the current episode's firing was sent to; its resolve goes there too.
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_change_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_count: Mapped[int] = mapped_column(Integer, default=0)
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)
    # The Slack message of the current episode, so the resolve updates it.
    slack_channel: Mapped[str | None] = mapped_column(String(64), nullable=True)
    slack_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The maintenance window that held back this episode's notifications.
    suppressed_by: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    # Last reminder posted in the Slack thread for a long-firing critical alert.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set while the alert flaps: transitions are recorded but not delivered.
    flapping_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The state last delivered to PagerDuty/Slack (what on-call believes), for flap recovery.
    delivered_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The storm incident this episode's firing was folded into (bridge/storms.py).
    # No foreign key: adding one to `alerts` on SQLite means copying the table, whose
    # drop would cascade-delete every delivery; storms are never deleted while referenced.
    storm_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)

    __table_args__ = (
        Index(None, "status", "last_change_at"),
        # The console's node list: each distinct node and its last change (console/reads).
        Index(None, "node", "last_change_at"),
        # The few alerts flapping now (store/scheduled.settle_flapping).
        Index(
            "ix_alerts_flapping",
            "flapping_since",
            sqlite_where=text(FLAPPING_SQL),
            postgresql_where=text(FLAPPING_SQL),
        ),
    )


# The open storm of an alert name: the one row per name whose `ended_at` is NULL.
OPEN_STORM_SQL = "ended_at IS NULL"


class StormRow(Base):
    """One storm incident: the folded firings of one storming alert name.

    At most one open storm per alert name (a partial unique index), so replicas that
    fold the same storm at once insert one row between them and update it after.
    """

    __tablename__ = "storms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alertname: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The last folded firing: the storm ends a window after it (and all resolved).
    last_fired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Folded firings so far (an alert that re-fires into the storm counts again).
    fired_count: Mapped[int] = mapped_column(Integer, default=0)
    # The alert whose outbox rows carry the storm's notifications: the first one
    # folded. One alert and channel per storm keeps its rows in order (a refresh
    # never overtakes the first trigger, nor the resolve a refresh).
    anchor_alert_id: Mapped[int] = mapped_column(Integer)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Per channel: a storm notification is pending (growth adds no other), and when
    # the last one was claimed (the next refresh waits its interval after it).
    pagerduty_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    pagerduty_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    slack_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    slack_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The storm's Slack message, and the nodes it has announced so far.
    slack_channel: Mapped[str | None] = mapped_column(String(64), nullable=True)
    slack_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    slack_nodes: Mapped[list[str]] = mapped_column(JSON, default=list)

    __table_args__ = (
        Index(
            "uq_storms_open_alertname",
            "alertname",
            unique=True,
            sqlite_where=text(OPEN_STORM_SQL),
            postgresql_where=text(OPEN_STORM_SQL),
        ),
        Index(None, "alertname", "started_at"),
    )


class TransitionRow(Base):
    """Every state change of every alert, append-only (history for digests and audits)."""

    __tablename__ = "alert_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(128))
    alertname: Mapped[str] = mapped_column(String(255), default="")
    node: Mapped[str] = mapped_column(String(255), default="")
    severity: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    # Recent changes of one alert name: is it storming? (store/ingest)
    __table_args__ = (Index(None, "alertname", "at"),)


# The predicates of the partial indexes below. A query uses such an index only
# when its WHERE says the same with a literal (`literal_column`), not a parameter.
PENDING_SQL = "status = 'pending'"
IN_FLIGHT_SQL = "status = 'in_flight'"
DEAD_SQL = "status = 'dead'"


class DeliveryRow(Base):
    """The transactional outbox: one notification for one channel."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # None for a delivery that is not about one alert: a channel summary.
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True, nullable=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    # trigger | resolve | reminder | flapping | flap_settled | summary
    action: Mapped[str] = mapped_column(String(16))
    # pending | in_flight | delivered | dry_run | dead
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Slack triggers of one webhook post that go out as one message.
    batch_key: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Claims take lower first: 0 normally, 1 for the storm lane (store/ingest).
    priority: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    external_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)

    __table_args__ = (
        # The queue: claims scan one channel's due rows at a time (store/outbox).
        # Partial indexes over the few rows in each state, so that no index leads
        # with `status`: without statistics SQLite took such an index for every
        # `status = ?` and scanned all pending rows to claim rows it knew by id.
        # The claim's whole order (priority, next_attempt_at, id): an index that
        # gives only part of it makes PostgreSQL sort the whole backlog.
        Index(
            "ix_deliveries_pending",
            "channel",
            "priority",
            "next_attempt_at",
            "id",
            sqlite_where=text(PENDING_SQL),
            postgresql_where=text(PENDING_SQL),
        ),
        Index(
            "ix_deliveries_in_flight",
            "claimed_until",
            sqlite_where=text(IN_FLIGHT_SQL),
            postgresql_where=text(IN_FLIGHT_SQL),
        ),
        Index(
            "ix_deliveries_dead",
            "finished_at",
            sqlite_where=text(DEAD_SQL),
            postgresql_where=text(DEAD_SQL),
        ),
        Index(None, "alert_id", "channel", "status"),
        # Retention and the summaries: finished rows by when they finished.
        Index(None, "finished_at"),
    )


class AttemptRow(Base):
    """Every delivery attempt, whatever its outcome (healthchecks' style)."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    # Indexed: PagerDuty pacing counts the last minute's attempts (store/attempts).
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # delivered | dry_run | retry | dead
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class WindowRow(Base):
    """A maintenance window: one-off, or recurring on a cron schedule."""

    __tablename__ = "windows"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    matchers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(255))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # One-off: the end. Recurring: None (occurrences carry their own ends).
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cron: Mapped[str | None] = mapped_column(String(120), nullable=True)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OccurrenceRow(Base):
    """One concrete period of a window, and its Alertmanager silences."""

    __tablename__ = "window_occurrences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    window_id: Mapped[str] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # Alertmanager URL -> silence id, for every Alertmanager the window reached.
    am_silences: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # pending | synced | expiring | expired
    sync_state: Mapped[str] = mapped_column(String(16), default="pending")
    sync_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sync_claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("window_id", "starts_at"),
        Index(None, "sync_state"),
    )


class JobRunRow(Base):
    """One run of a scheduled job for one slot, claimed by the replica that inserted it."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64))
    slot: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), default="running")  # running|ok|failed
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("job", "slot"), Index(None, "job", "started_at"))


class InteractionRow(Base):
    """One act of a person, from Slack or PagerDuty, recorded once (bridge/interact).

    `key` is unique: a Slack retry, a double click, a click reaching two replicas
    and a redelivered PagerDuty event all insert the same key, and only the
    insert that succeeds acts.
    """

    __tablename__ = "interactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # slack | pagerduty
    action: Mapped[str] = mapped_column(String(64))
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), nullable=True, index=True
    )
    actor: Mapped[str] = mapped_column(String(255), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class _ResponseColumns:
    """What people did about something that paged or posted: who acknowledged, who
    silenced until when, and PagerDuty's state of its incident."""

    acked_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ack_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    silenced_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    silenced_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    window_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    pd_incident_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    pd_incident_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    # triggered | acknowledged | resolved, as of `pd_status_at` (the event's occurred_at).
    pd_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    pd_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    pd_responder: Mapped[str | None] = mapped_column(String(255), nullable=True)


class ResponseRow(_ResponseColumns, Base):
    """What people did about one episode of an alert: acknowledged, silenced, PagerDuty state."""

    __tablename__ = "alert_responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    # The episode (the alert's starts_at): a re-fire starts with no response.
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("alert_id", "starts_at"),)


class StormResponseRow(_ResponseColumns, Base):
    """What people did about a storm incident: as `alert_responses`, one row per storm."""

    __tablename__ = "storm_responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    storm_id: Mapped[int] = mapped_column(ForeignKey("storms.id", ondelete="CASCADE"), unique=True)


class AmObservationRow(Base):
    """What the last reconcile rounds saw of one alert in Alertmanager (bridge/reconcile).

    Kept per fingerprint: its state there (silenced and inhibited alerts never resolve by
    webhook, so the state last seen explains a later disappearance), how many consecutive
    rounds it was absent (firing in the bridge) or unknown (active in Alertmanager), and
    the reason a reconcile gave when it resolved the episode starting at
    `resolved_starts_at`.
    """

    __tablename__ = "am_observations"

    fingerprint: Mapped[str] = mapped_column(String(128), primary_key=True)
    # active | suppressed | unprocessed | absent
    state: Mapped[str] = mapped_column(String(16), default="absent")
    # silenced | inhibited | None, and by what (a window, a silence, an alert), for people.
    muted: Mapped[str | None] = mapped_column(String(16), nullable=True)
    muted_by: Mapped[str | None] = mapped_column(Text, nullable=True)
    absent_rounds: Mapped[int] = mapped_column(Integer, default=0)
    unknown_rounds: Mapped[int] = mapped_column(Integer, default=0)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolve_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReconcileStatusRow(Base):
    """The one row (id 1) of reconcile's lease and last outcome, shared by every replica.

    The lease (`running_by`, `running_until`) is taken with a compare-and-set update, so
    one round runs at a time across replicas; the outcome feeds the console's health line.
    """

    __tablename__ = "reconcile_status"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    running_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    running_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_round_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_detail: Mapped[str] = mapped_column(Text, default="")
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Consecutive rounds that concluded nothing (an Alertmanager failed or restarted).
    failures: Mapped[int] = mapped_column(Integer, default=0)


# Core tables, typed as such, for statements built once and reused.
ALERTS = cast(Table, AlertRow.__table__)
TRANSITIONS = cast(Table, TransitionRow.__table__)
DELIVERIES = cast(Table, DeliveryRow.__table__)
ATTEMPTS = cast(Table, AttemptRow.__table__)
INTERACTIONS = cast(Table, InteractionRow.__table__)
RESPONSES = cast(Table, ResponseRow.__table__)
STORMS = cast(Table, StormRow.__table__)
STORM_RESPONSES = cast(Table, StormResponseRow.__table__)


class ConsoleSessionRow(Base):
    """A web console session (bridge/console/sessions.py). The cookie carries a random id;
    the row holds only its SHA-256, so the table gives away no cookie. A session ends at
    `expires_at` however often the page refreshes, and at `revoked_at` (signing out), on
    every replica at once."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


CONSOLE_SESSIONS = cast(Table, ConsoleSessionRow.__table__)
