"""One reconcile round's decision, pure: the Alertmanagers' answers and what the bridge
knows in, resolves (with their reasons), alerts to ingest and what to remember out.

Never a false resolve:
- a round in which any Alertmanager failed, timed out or answered oddly concludes
  nothing, nor one in which any Alertmanager started less than the grace ago (it may
  have lost its data; Prometheus re-sends every firing alert each minute, so a young
  Alertmanager relearns them), and either breaks the count of consecutive absences;
- an alert listed by any Alertmanager is firing, whatever its state there;
- an alert must be absent in two consecutive rounds, and a webhook that brought news
  of it since the round began cancels its absence;
- an alert's absence counts only if an Alertmanager the bridge reads speaks for the one
  that sent it: one that sends to the bridge but is missing from BRIDGE_ALERTMANAGER_URL
  lists its alerts to nobody the bridge asks, and they would all be resolved a minute
  after they paged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bridge.alerts import labels_fingerprint
from bridge.durations import format_duration
from bridge.reconcile.model import (
    ABSENT,
    ACTIVE,
    FAILED,
    GRACE,
    INHIBITED,
    OK,
    REASON_INHIBITED,
    REASON_NOT_LISTED,
    REASON_SILENCED,
    SILENCED,
    SUPPRESSED,
    UNREAD_NOTE,
    AmAlert,
    AmAnswer,
    AmFailure,
    BridgeAlert,
    Observation,
    Plan,
    Resolve,
)
from bridge.textsafe import one_line

# Rounds an alert must be missing (firing in the bridge) or unknown (active in
# Alertmanager) before the bridge acts on it.
ROUNDS_TO_CONCLUDE = 2


@dataclass(frozen=True)
class Listed:
    """One fingerprint across every answering Alertmanager."""

    alert: AmAlert
    state: str
    muted: str | None
    muted_by: str | None


def describe_silences(ids: Sequence[str], windows: Mapping[str, str]) -> str:
    """`window 1f3c…` for the bridge's own windows, `Alertmanager silence 8a2e…` otherwise."""
    return ", ".join(
        f"window {windows[i]}" if i in windows else f"Alertmanager silence {i}" for i in ids
    )


def describe_inhibitors(ids: Sequence[str], listing: Mapping[str, AmAlert]) -> str:
    return ", ".join(listing[i].place if i in listing else f"alert {i}" for i in ids)


def merge(answers: Sequence[AmAnswer], windows: Mapping[str, str]) -> dict[str, Listed]:
    """Active in any Alertmanager wins over suppressed, suppressed over unprocessed."""
    rank = {ACTIVE: 0, SUPPRESSED: 1}
    merged: dict[str, Listed] = {}
    for answer in answers:
        listing = {a.fingerprint: a for a in answer.alerts}
        for alert in answer.alerts:
            muted, muted_by = None, None
            if alert.state == SUPPRESSED and alert.silenced_by:
                muted, muted_by = SILENCED, describe_silences(alert.silenced_by, windows)
            elif alert.state == SUPPRESSED and alert.inhibited_by:
                muted, muted_by = INHIBITED, describe_inhibitors(alert.inhibited_by, listing)
            candidate = Listed(alert, alert.state, muted, muted_by)
            current = merged.get(alert.fingerprint)
            if current is None or rank.get(alert.state, 2) < rank.get(current.state, 2):
                merged[alert.fingerprint] = candidate
    return merged


def resolve_reason(seen: Observation) -> tuple[str, str]:
    """(metric label, sentence) for an alert that disappeared, from its state last seen."""
    if seen.muted == SILENCED:
        return REASON_SILENCED, (
            f"resolved while silenced by {seen.muted_by} "
            "(Alertmanager sends no resolve for a silenced alert)"
        )
    if seen.muted == INHIBITED:
        return REASON_INHIBITED, (
            f"resolved while inhibited by {seen.muted_by} "
            "(Alertmanager sends no resolve for an inhibited alert)"
        )
    return REASON_NOT_LISTED, "no longer listed by Alertmanager"


def _inconclusive(
    answers: Sequence[AmAnswer | AmFailure], now: datetime, grace: timedelta
) -> tuple[str, str] | None:
    failures = [a for a in answers if isinstance(a, AmFailure)]
    if failures:
        return FAILED, "; ".join(f"{f.url}: {f.detail}" for f in failures)
    young = [a for a in answers if isinstance(a, AmAnswer) and now - a.started_at < grace]
    if young:
        return GRACE, "; ".join(
            f"{a.url} started {format_duration(max(1.0, (now - a.started_at).total_seconds()))}"
            f" ago (grace {format_duration(grace.total_seconds())})"
            for a in young
        )
    return None


def _seen(
    listed: Listed, now: datetime, before: Observation | None, unknown_rounds: int = 0
) -> Observation:
    """As listed now; `seen_at` is when it was first seen so (an unchanged observation is
    not written again: a storm's thousands of alerts cost no writes while nothing changes)."""
    same = before is not None and (before.state, before.muted, before.muted_by) == (
        listed.state,
        listed.muted,
        listed.muted_by,
    )
    return Observation(
        state=listed.state,
        muted=listed.muted,
        muted_by=listed.muted_by,
        unknown_rounds=unknown_rounds,
        seen_at=before.seen_at if same and before is not None else now,
    )


def vouched_senders(
    firing: Sequence[BridgeAlert],
    listed: Mapping[str, Listed],
    by_labels: Mapping[str, str],
    previous: Mapping[str, Observation],
) -> frozenset[str]:
    """The senders (externalURL) whose alerts the Alertmanagers read list, now or in an
    earlier round: their alerts' absence means something. A sender none of them ever
    listed an alert of is an Alertmanager the bridge does not read."""
    return frozenset(
        a.sender
        for a in firing
        if a.sender
        and (
            a.fingerprint in listed
            or a.fingerprint in by_labels
            or previous.get(a.fingerprint, Observation()).seen_at is not None
        )
    )


def decide_round(
    *,
    answers: Sequence[AmAnswer | AmFailure],
    firing: Sequence[BridgeAlert],
    previous: Mapping[str, Observation],
    known: Mapping[str, datetime],
    receivers: frozenset[str],
    windows: Mapping[str, str],
    round_started: datetime,
    now: datetime,
    grace: timedelta,
    urgent: bool = False,
) -> Plan:
    """`known`: the episode start the bridge stores for each fingerprint Alertmanager lists;
    `windows`: Alertmanager silence id -> the bridge's window id; `urgent`: a webhook was cut
    (truncatedAlerts), so its missing alerts are ingested without waiting a second round."""
    merged = merge([a for a in answers if isinstance(a, AmAnswer)], windows)
    observations = {fp: _seen(listed, now, previous.get(fp)) for fp, listed in merged.items()}
    stopped = _inconclusive(answers, now, grace) if answers else (FAILED, "no Alertmanager")
    if stopped is not None:
        # Concludes nothing, and breaks every count of consecutive rounds.
        for alert in firing:
            if alert.fingerprint not in observations:
                seen = previous.get(alert.fingerprint, Observation())
                observations[alert.fingerprint] = replace(seen, absent_rounds=0, unknown_rounds=0)
        return Plan(stopped[0], stopped[1], observations=observations)

    resolves: list[Resolve] = []
    firing_now = {a.fingerprint for a in firing}
    # A webhook without fingerprints gave the bridge a hash of the labels as the key.
    by_labels = {labels_fingerprint(x.alert.labels): fp for fp, x in merged.items()}
    vouched = vouched_senders(firing, merged, by_labels, previous)
    unvouched: set[str] = set()
    for alert in firing:
        if alert.fingerprint in merged:
            continue
        if alert.fingerprint in by_labels:
            listed = merged[by_labels[alert.fingerprint]]
            observations[alert.fingerprint] = _seen(listed, now, previous.get(alert.fingerprint))
            firing_now.add(by_labels[alert.fingerprint])
            continue
        seen = previous.get(alert.fingerprint, Observation())
        if alert.last_seen_at >= round_started:
            # A webhook told of it while Alertmanager was being read: not proof of absence.
            observations[alert.fingerprint] = replace(seen, absent_rounds=0)
            continue
        absent = replace(seen, state=ABSENT, absent_rounds=seen.absent_rounds + 1)
        observations[alert.fingerprint] = absent
        if absent.absent_rounds >= ROUNDS_TO_CONCLUDE:
            if alert.sender and alert.sender not in vouched:
                unvouched.add(alert.sender)  # its Alertmanager is not among those read
                continue
            kind, reason = resolve_reason(seen)
            resolves.append(Resolve(alert, kind, reason))

    additions: list[AmAlert] = []
    for fp, listed in merged.items():
        am_alert = listed.alert
        ours = receivers.intersection(am_alert.receivers)
        if listed.state != ACTIVE or not ours or fp in firing_now:
            continue
        if fp in known and known[fp] >= am_alert.starts_at:
            continue  # the bridge has this episode (or a later one): dedup's business
        unknown = previous.get(fp, Observation()).unknown_rounds + 1
        observations[fp] = _seen(listed, now, previous.get(fp), unknown_rounds=unknown)
        if urgent or unknown >= ROUNDS_TO_CONCLUDE:
            additions.append(am_alert)
    detail = f"{len(merged)} alert(s) listed by {len(answers)} Alertmanager(s)"
    if unvouched:
        detail += "; " + UNREAD_NOTE + ", ".join(sorted(one_line(u) for u in unvouched))
    return Plan(
        OK, detail, tuple(resolves), tuple(additions), observations, tuple(sorted(unvouched))
    )
