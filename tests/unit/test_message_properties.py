"""Every message the bridge builds for Slack and PagerDuty, fed hostile labels and
annotations (issue 25, Must show 2): no mrkdwn control sequence of the payload's making
survives, and every vendor limit holds.

The limits are checked by the replicas' own validators (tests/fakes/slack_blocks.py and
tests/fakes/pagerduty.py: what Slack answers `invalid_blocks`/`msg_too_long` to, what
PagerDuty answers 400 to), plus PagerDuty's 512 KB on the event as sent. The alerts are
what the webhook accepts: generated payloads that `parse_payload` refuses are skipped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bridge.alerts import (
    MAX_ANNOTATION_VALUE_CHARS,
    MAX_LABEL_VALUE_CHARS,
    MAX_URL_CHARS,
    Alert,
    PayloadError,
    parse_payload,
)
from bridge.digest.build import build_digest
from bridge.digest.facts import (
    AlertnameStats,
    DigestFacts,
    FailedDelivery,
    FiringAlert,
    NoisyAlert,
    WindowFact,
)
from bridge.interact.pagerduty import HANDLED, PdEvent, thread_line
from bridge.notify.notes import flap_note, reminder_note, stable_note
from bridge.notify.pagerduty_event import (
    acknowledge_event,
    resolve_event,
    trigger_event,
)
from bridge.notify.slack_blocks import group_message, resolved_reply, single_message
from bridge.notify.storm_message import (
    ended_line,
    joined_line,
    storm_resolve_event,
    storm_slack_message,
    storm_trigger_event,
)
from bridge.notify.view import AlertView, LinkBase
from bridge.storm_view import FoldedAlert, StormView
from tests.fakes.pagerduty import MAX_EVENT_BYTES, validate_event
from tests.fakes.slack_blocks import MAX_TEXT_CHARS, validate_blocks
from tests.support.mrkdwn_check import markup_violations, message_violations
from tests.support.payloads import payload

PROPERTIES = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
LINKS = LinkBase(
    grafana_url="https://grafana.example.org",
    alertmanager_url="https://alertmanager.example.org",
    runbook_base_url="https://git.example.org/runbooks",
    public_url="https://bridge.example.org",
)
ROUTING_KEY = "R" * 32

# What reaches Slack as the bot when unescaped, and what breaks a link or an entity.
CONTROL = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0ADMIN>",
    "<#C0SECRET>",
    "<!subteam^S0ONCALL>",
    "<!date^1700000000^{date}|x>",
    "<https://evil.example/login|Open PagerDuty>",
    "<mailto:a@evil.example|mail>",
    "&lt;!channel&gt;",
    "&",
    "<",
    ">",
    "|",
    "*",
    "`",
    "\n",
    "é",
    "🔥",
    "\u202e",
]
# Any text the webhook accepts (no NUL, no lone surrogate: those are a 400).
plain = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
pieces = st.one_of(st.sampled_from(CONTROL), plain)
hostile = st.lists(pieces, max_size=8).map("".join)
nonempty = st.tuples(st.sampled_from(CONTROL), hostile).map("".join)


def repeated(limit: int) -> st.SearchStrategy[str]:
    """Hostile text, sometimes repeated up to `limit` characters (the webhook's caps)."""
    return st.one_of(
        hostile,
        st.tuples(nonempty, st.integers(1, limit)).map(
            lambda t: (t[0] * (t[1] // len(t[0]) + 1))[: t[1]]
        ),
    )


urls = st.one_of(
    hostile,
    st.tuples(st.sampled_from(["https://", "http://", "javascript:", "HTTPS://"]), hostile).map(
        "".join
    ),
    repeated(MAX_URL_CHARS).map(lambda s: "http://prometheus:9090/graph?g0.expr=" + s),
)
# Blank values are valid labels, and some vendor fields must not be blank.
label_values = st.one_of(st.sampled_from(["", " ", "\t"]), repeated(MAX_LABEL_VALUE_CHARS))
annotation_values = repeated(MAX_ANNOTATION_VALUE_CHARS)
keys = st.one_of(st.sampled_from(["node", "gpu", "instance", "job", "cluster", "role"]), hostile)
ANNOTATION_KEYS = ["summary", "description", "value", "threshold", "runbook_url"]


@st.composite
def raw_alerts(draw: st.DrawFn, big: bool = True) -> dict[str, Any]:
    labels = {
        "alertname": draw(label_values),
        "severity": draw(st.one_of(st.sampled_from(["critical", "warning"]), label_values)),
        **draw(st.dictionaries(keys, label_values, max_size=8)),
    }
    annotations = draw(
        st.dictionaries(st.one_of(st.sampled_from(ANNOTATION_KEYS), hostile), annotation_values)
    )
    if big and draw(st.booleans()):  # the 655 KB case: up to 40 annotations near the 16,384 cap
        pattern = draw(nonempty)
        for i in range(draw(st.integers(0, 40))):
            length = draw(st.integers(8000, MAX_ANNOTATION_VALUE_CHARS))
            annotations[f"note{i}"] = (pattern * (length // len(pattern) + 1))[:length]
    starts = NOW - timedelta(minutes=draw(st.integers(0, 10**6)))
    status = draw(st.sampled_from(["firing", "resolved"]))
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": starts.isoformat(),
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else NOW.isoformat(),
        "generatorURL": draw(urls),
        "fingerprint": draw(plain),
    }


def accepted(raws: list[dict[str, Any]]) -> list[Alert]:
    """The alerts as the webhook accepts them; what it refuses never reaches a builder."""
    try:
        return list(parse_payload(payload(*raws), now=NOW).alerts)
    except PayloadError:
        assume(False)
        raise


def view(alert: Alert, i: int, response: dict[str, Any] | None) -> AlertView:
    return AlertView(
        fingerprint=alert.fingerprint,
        status=alert.status,
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        generator_url=alert.generator_url,
        alert_id=i + 1,
        paged=alert.severity == "critical",
        response=response,
    )


responses = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "pd_status": st.sampled_from(["triggered", "acknowledged", "resolved"]),
            "pd_responder": label_values,
            "pd_incident_url": urls,
            "acked_by": label_values,
            "acked_at": st.just(NOW.isoformat()),
            "ack_source": st.sampled_from(["slack", "pagerduty"]),
            "silenced_by": label_values,
            "silenced_until": st.just((NOW + timedelta(hours=2)).isoformat()),
        },
    ),
)
contexts = st.one_of(
    st.none(),
    st.dictionaries(hostile, repeated(4000), max_size=12).flatmap(
        lambda lines: st.fixed_dictionaries(
            {
                "_key": label_values,
                "_missing": st.lists(
                    st.fixed_dictionaries({"what": hostile, "why": repeated(2000)}), max_size=5
                ),
            }
        ).map(lambda extra: {**lines, **extra})
    ),
)


def check_slack(text: str | None, blocks: list[Any] | None) -> None:
    assert message_violations(text, blocks) == []
    assert validate_blocks(blocks or []) == []
    assert text is None or len(text) <= MAX_TEXT_CHARS


def check_slack_line(text: str) -> None:
    assert text and markup_violations(text) == []
    assert len(text) <= MAX_TEXT_CHARS


def check_pagerduty(event: dict[str, Any]) -> None:
    sent = {"routing_key": ROUTING_KEY, **event}
    assert validate_event(sent) == []
    assert len(json.dumps(sent).encode()) <= MAX_EVENT_BYTES


@PROPERTIES
@given(st.lists(raw_alerts(), min_size=1, max_size=6), responses, contexts, st.booleans())
def test_alert_messages_escape_every_control_sequence_and_fit_every_limit(
    raws: list[dict[str, Any]],
    response: dict[str, Any] | None,
    context: dict[str, Any] | None,
    interactive: bool,
) -> None:
    views = [view(a, i, response) for i, a in enumerate(accepted(raws))]
    first = views[0]
    check_slack(*single_message(first, LINKS, context, interactive=interactive))
    check_slack(*group_message(views, LINKS, interactive=interactive))
    check_slack_line(resolved_reply(first, NOW))
    check_slack_line(reminder_note(first.name, first.labels, "4h"))
    check_slack_line(flap_note(first.name, first.labels, 12, "10m", "30m"))
    check_slack_line(stable_note(first.name, first.labels, first.status, 12, NOW))
    check_pagerduty(trigger_event(first, LINKS, context))
    check_pagerduty(resolve_event(first))
    check_pagerduty(acknowledge_event(first))


@PROPERTIES
@given(st.lists(raw_alerts(big=False), min_size=1, max_size=30), st.booleans(), st.booleans())
def test_storm_messages_escape_every_control_sequence_and_fit_every_limit(
    raws: list[dict[str, Any]], ended: bool, public: bool
) -> None:
    alerts = accepted(raws)
    storm = StormView(
        id=7,
        alertname=alerts[0].name,
        severity=alerts[0].severity,
        started_at=NOW - timedelta(hours=1),
        ended_at=NOW if ended else None,
        last_fired_at=NOW,
        fired_count=len(alerts),
        alerts=tuple(
            FoldedAlert(
                a.fingerprint,
                a.labels.get("node", ""),
                a.labels.get("gpu", ""),
                a.status,
                a.annotations.get("value", ""),
            )
            for a in alerts
        ),
        slack_nodes=(),
    )
    public_url = LINKS.public_url if public else None
    check_slack(*storm_slack_message(storm, public_url))
    check_slack_line(joined_line(storm, storm.nodes))
    check_slack_line(ended_line(storm))
    check_pagerduty(storm_trigger_event(storm, public_url))
    check_pagerduty(storm_resolve_event(storm))


@PROPERTIES
@given(st.lists(raw_alerts(big=False), min_size=1, max_size=8), label_values, st.integers(0, 3))
def test_channel_summaries_escape_every_control_sequence_and_fit_every_limit(
    raws: list[dict[str, Any]], text: str, count: int
) -> None:
    alerts = accepted(raws)
    facts = DigestFacts(
        start=NOW - timedelta(days=1),
        end=NOW,
        now=NOW,
        firing=tuple(
            FiringAlert(a.name, a.node, a.severity, a.starts_at, flapping=bool(count))
            for a in alerts
        ),
        firing_total=len(alerts),
        alertnames=tuple(AlertnameStats(a.name, 3, 2, 60.0) for a in alerts),
        noisiest=tuple(NoisyAlert(a.name, a.node, 9) for a in alerts),
        failed=tuple(FailedDelivery("slack", "trigger", a.name, a.node, text, NOW) for a in alerts),
        failed_total=len(alerts),
        active_windows=tuple(
            WindowFact(text, text, text, NOW, NOW + timedelta(hours=1), None) for _ in range(count)
        ),
    )
    check_slack(*build_digest(facts, "UTC"))


@PROPERTIES
@given(st.sampled_from(HANDLED), label_values, st.lists(label_values, max_size=10), repeated(4000))
def test_pagerduty_thread_lines_escape_every_control_sequence(
    kind: str, agent: str, assignees: list[str], note: str
) -> None:
    event = PdEvent("E1", kind, NOW, agent, assignees=tuple(assignees), note=note)
    check_slack_line(thread_line(event, still_firing=True))
