"""One alert's page: labels, context, chart, transitions, deliveries and attempts, links (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bridge.console.deliveries import DeliveryLine, delivery_line
from bridge.console.timefmt import stamp
from bridge.enrich.render import chart_of, chart_path, key_fact, missing_text, visible_items
from bridge.notify.view import AlertView, LinkBase, links_for
from bridge.routing import PAGERDUTY, SLACK


@dataclass(frozen=True)
class Link:
    href: str
    text: str


@dataclass(frozen=True)
class AttemptLine:
    at: str
    outcome: str
    http_status: str
    duration: str
    detail: str


@dataclass(frozen=True)
class DeliveryBlock:
    line: DeliveryLine  # as the deliveries page shows it, with the whole error
    reference: str
    attempt_log: tuple[AttemptLine, ...]


@dataclass(frozen=True)
class TransitionLine:
    at: str
    status: str
    reason: str


@dataclass(frozen=True)
class AlertPage:
    fingerprint: str
    name: str
    severity: str
    status: str
    where: str
    fact: str
    since: str
    ended: str
    received: int
    duplicates: int
    held_by_window: str
    flapping_since: str
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...]
    context: tuple[tuple[str, str], ...]
    context_missing: str
    chart: str
    # Drawn from points stored at enrichment time (always works); else Prometheus is asked again.
    chart_stored: bool
    links: tuple[Link, ...]
    slack_message: str
    transitions: tuple[TransitionLine, ...]
    deliveries: tuple[DeliveryBlock, ...]


def safe_href(href: str) -> bool:
    """Only http(s) links: an annotation's `javascript:` URL must never become a link."""
    return href.startswith(("http://", "https://"))


def _reference(delivery: Mapping[str, Any]) -> str:
    ref = delivery.get("external_ref")
    if not ref:
        return ""
    if delivery["channel"] == PAGERDUTY:
        return f"PagerDuty dedup key {ref}"
    if delivery["channel"] == SLACK:
        return f"Slack message ts {ref}"
    return str(ref)


def _attempt(a: Mapping[str, Any], now: datetime, tz: ZoneInfo) -> AttemptLine:
    return AttemptLine(
        at=stamp(a["started_at"], tz, now),
        outcome=str(a["outcome"]),
        http_status=str(a["http_status"]) if a["http_status"] is not None else "",
        duration=f"{a['duration_ms']} ms",
        detail=str(a["detail"] or ""),
    )


def _delivery(
    d: Mapping[str, Any], alert: Mapping[str, Any], now: datetime, tz: ZoneInfo
) -> DeliveryBlock:
    of_alert = {k: alert[k] for k in ("fingerprint", "alertname", "node", "severity")}
    return DeliveryBlock(
        line=delivery_line({**d, **of_alert}, now, tz, error_chars=None),
        reference=_reference(d),
        attempt_log=tuple(_attempt(a, now, tz) for a in d.get("attempt_log", ())),
    )


def _newest_context(deliveries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The context stored with the newest delivery that has one (deliveries come newest first)."""
    return next((d["context"] for d in deliveries if isinstance(d.get("context"), dict)), None)


def build_alert_page(
    alert: Mapping[str, Any],
    transitions: Sequence[Mapping[str, Any]],
    deliveries: Sequence[Mapping[str, Any]],
    links: LinkBase,
    now: datetime,
    tz: ZoneInfo,
) -> AlertPage:
    view = AlertView(
        fingerprint=alert["fingerprint"],
        status=alert["status"],
        labels=dict(alert["labels"] or {}),
        annotations=dict(alert["annotations"] or {}),
        starts_at=alert["starts_at"],
        ends_at=alert["ends_at"],
        generator_url=alert.get("generator_url") or "",
    )
    context = _newest_context(deliveries)
    chart = chart_of(context)
    slack = ""
    if alert.get("slack_ts"):
        slack = f"channel {alert['slack_channel']}, ts {alert['slack_ts']}"
    return AlertPage(
        fingerprint=view.fingerprint,
        name=view.name,
        severity=view.severity,
        status=view.status,
        where=view.where,
        fact=view.fact_with(key_fact(context)),
        since=stamp(view.starts_at, tz, now),
        ended=stamp(view.ends_at, tz, now) if view.status == "resolved" else "",
        received=int(alert["received_count"]),
        duplicates=int(alert["duplicate_count"]),
        held_by_window=str(alert.get("suppressed_by") or ""),
        flapping_since=stamp(alert["flapping_since"], tz, now)
        if alert.get("flapping_since")
        else "",
        labels=tuple(sorted(view.labels.items())),
        annotations=tuple(sorted(view.annotations.items())),
        context=tuple(visible_items(context)),
        context_missing=missing_text(context),
        chart=(chart_path(chart) or "") if chart is not None else "",
        chart_stored=chart is not None and "series" in chart,
        links=tuple(
            Link(link["href"], link["text"])
            for link in links_for(view, links)
            if safe_href(link["href"])
        ),
        slack_message=slack,
        transitions=tuple(
            TransitionLine(
                stamp(t["at"], tz, now), str(t["status"]), str(t["reason"]).replace("_", " ")
            )
            for t in transitions
        ),
        deliveries=tuple(_delivery(d, alert, now, tz) for d in deliveries),
    )
