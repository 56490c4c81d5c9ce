"""The values a reconcile round passes between its stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Alertmanager's states of an alert in /api/v2/alerts.
ACTIVE = "active"
SUPPRESSED = "suppressed"
UNPROCESSED = "unprocessed"
AM_STATES = (ACTIVE, SUPPRESSED, UNPROCESSED)
# Not listed by any Alertmanager in the last conclusive round.
ABSENT = "absent"

SILENCED = "silenced"
INHIBITED = "inhibited"

# Round outcomes (/metrics and the console's health line).
OK = "ok"
FAILED = "failed"  # an Alertmanager failed, timed out or answered oddly
GRACE = "grace"  # an Alertmanager restarted less than BRIDGE_RECONCILE_GRACE ago
ERROR = "error"  # the bridge's own side failed (database)

# How a round's detail names the senders whose alerts it left alone (decide.vouched_senders);
# the console shows the line as a warning.
UNREAD_NOTE = "alerts sent by Alertmanager(s) not in BRIDGE_ALERTMANAGER_URL left alone: "

# Resolve reasons, as /metrics labels them.
REASON_SILENCED = "silenced"
REASON_INHIBITED = "inhibited"
REASON_NOT_LISTED = "not_listed"


@dataclass(frozen=True)
class AmAlert:
    """One alert as one Alertmanager's /api/v2/alerts lists it."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    state: str
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    receivers: tuple[str, ...] = ()

    @property
    def place(self) -> str:
        """`DGXSparkNodeDown on dgx-spark-01`: how people name the alert."""
        name = self.labels.get("alertname", self.fingerprint)
        node = self.labels.get("node") or self.labels.get("instance", "")
        return f"{name} on {node}" if node else name


@dataclass(frozen=True)
class AmAnswer:
    """What one Alertmanager answered in a round."""

    url: str
    started_at: datetime  # from /api/v2/status `uptime`
    alerts: tuple[AmAlert, ...]


@dataclass(frozen=True)
class AmFailure:
    """An Alertmanager that failed, timed out or answered oddly (the detail is safe to show)."""

    url: str
    detail: str


@dataclass(frozen=True)
class BridgeAlert:
    """An alert firing in the bridge, as a round needs it."""

    fingerprint: str
    starts_at: datetime
    last_seen_at: datetime
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str
    # The externalURL of the Alertmanager whose webhook last carried it (None: unknown).
    sender: str | None = None


@dataclass(frozen=True)
class Observation:
    """What the rounds so far saw of one fingerprint (the am_observations row)."""

    state: str = ABSENT
    muted: str | None = None
    muted_by: str | None = None
    absent_rounds: int = 0
    unknown_rounds: int = 0
    seen_at: datetime | None = None


@dataclass(frozen=True)
class Resolve:
    """Resolve this firing alert, saying why."""

    alert: BridgeAlert
    kind: str  # REASON_*
    reason: str


@dataclass(frozen=True)
class Plan:
    """A round's conclusions: what to resolve, what to ingest, what to remember."""

    outcome: str
    detail: str
    resolves: tuple[Resolve, ...] = ()
    additions: tuple[AmAlert, ...] = ()
    observations: dict[str, Observation] = field(default_factory=dict)
    # Senders (externalURL) of alerts gone from every listing that no Alertmanager read
    # speaks for: those alerts are left alone (see decide.vouched_senders).
    unvouched: tuple[str, ...] = ()
