"""The pure decision of one reconcile round (bridge/reconcile/decide.py), table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.alerts import labels_fingerprint
from bridge.reconcile.decide import decide_round
from bridge.reconcile.model import (
    ABSENT,
    FAILED,
    GRACE,
    OK,
    AmAlert,
    AmAnswer,
    AmFailure,
    BridgeAlert,
    Observation,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
STARTED = NOW - timedelta(seconds=1)  # the round began reading Alertmanager
GRACE_5M = timedelta(minutes=5)
OLD_AM = NOW - timedelta(hours=1)
EPISODE = NOW - timedelta(hours=2)
RECEIVERS = frozenset({"alert-bridge", "alert-bridge-watchdog"})
URL_A, URL_B = "http://am-a:9093", "http://am-b:9093"


def am(
    fp: str,
    state: str = "active",
    *,
    silenced: tuple[str, ...] = (),
    inhibited: tuple[str, ...] = (),
    receivers: tuple[str, ...] = ("alert-bridge",),
    name: str = "GPUTemperatureCritical",
    node: str = "dgx-spark-01",
    starts_at: datetime = EPISODE,
) -> AmAlert:
    return AmAlert(
        fingerprint=fp,
        labels={"alertname": name, "node": node},
        annotations={},
        starts_at=starts_at,
        ends_at=None,
        generator_url="",
        state=state,
        silenced_by=silenced,
        inhibited_by=inhibited,
        receivers=receivers,
    )


def firing(fp: str, seen: datetime = NOW - timedelta(minutes=10)) -> BridgeAlert:
    return BridgeAlert(fp, EPISODE, seen, {"alertname": "GPUTemperatureCritical"}, {}, "")


def answer(*alerts: AmAlert, url: str = URL_A, started: datetime = OLD_AM) -> AmAnswer:
    return AmAnswer(url, started, alerts)


def decide(answers, bridge=(), previous=None, known=None, windows=None, urgent=False):  # type: ignore[no-untyped-def]
    return decide_round(
        answers=answers,
        firing=list(bridge),
        previous=previous or {},
        known=known or {},
        receivers=RECEIVERS,
        windows=windows or {},
        round_started=STARTED,
        now=NOW,
        grace=GRACE_5M,
        urgent=urgent,
    )


def test_an_alert_absent_once_is_remembered_not_resolved() -> None:
    plan = decide([answer()], [firing("f1")])
    assert plan.outcome == OK and plan.resolves == ()
    assert plan.observations["f1"].absent_rounds == 1
    assert plan.observations["f1"].state == ABSENT


@pytest.mark.parametrize(
    ("last_seen", "reason"),
    [
        (
            Observation("suppressed", "silenced", "window w1"),
            "resolved while silenced by window w1 "
            "(Alertmanager sends no resolve for a silenced alert)",
        ),
        (
            Observation("suppressed", "inhibited", "DGXSparkNodeDown on dgx-spark-01"),
            "resolved while inhibited by DGXSparkNodeDown on dgx-spark-01 "
            "(Alertmanager sends no resolve for an inhibited alert)",
        ),
        (Observation("active"), "no longer listed by Alertmanager"),
    ],
)
def test_an_alert_absent_in_two_consecutive_rounds_is_resolved_saying_why(
    last_seen: Observation, reason: str
) -> None:
    previous = {"f1": Observation(ABSENT, last_seen.muted, last_seen.muted_by, absent_rounds=1)}
    plan = decide([answer()], [firing("f1")], previous)
    assert [(r.alert.fingerprint, r.reason) for r in plan.resolves] == [("f1", reason)]


@pytest.mark.parametrize(
    ("answers", "outcome"),
    [
        ([AmFailure(URL_A, "timed out after 5s")], FAILED),
        ([answer(), AmFailure(URL_B, "HTTP 502")], FAILED),
        ([answer(started=NOW - timedelta(seconds=30))], GRACE),
        ([answer(), answer(url=URL_B, started=NOW - timedelta(minutes=1))], GRACE),
        ([], FAILED),
    ],
    ids=["failed", "one-of-pair-failed", "restarted", "one-of-pair-restarted", "none-configured"],
)
def test_a_round_with_a_failed_or_young_alertmanager_concludes_nothing(
    answers: list[AmAnswer | AmFailure], outcome: str
) -> None:
    previous = {"f1": Observation(ABSENT, absent_rounds=1), "f2": Observation(unknown_rounds=1)}
    plan = decide(answers, [firing("f1")], previous)
    assert plan.outcome == outcome
    assert plan.resolves == () and plan.additions == ()
    # And it breaks the count: the next good round starts again from one.
    assert plan.observations["f1"].absent_rounds == 0


def test_an_alert_listed_by_any_alertmanager_is_firing() -> None:
    previous = {"f1": Observation(ABSENT, absent_rounds=1)}
    plan = decide(
        [answer(), answer(am("f1", "suppressed", silenced=("s1",)), url=URL_B)],
        [firing("f1")],
        previous,
    )
    assert plan.resolves == ()
    assert plan.observations["f1"].absent_rounds == 0
    assert plan.observations["f1"].muted == "silenced"


def test_news_from_a_webhook_during_the_round_is_no_absence() -> None:
    previous = {"f1": Observation(ABSENT, absent_rounds=1)}
    plan = decide([answer()], [firing("f1", seen=STARTED + timedelta(milliseconds=5))], previous)
    assert plan.resolves == ()
    assert plan.observations["f1"].absent_rounds == 0


def test_active_in_one_alertmanager_wins_over_suppressed_in_the_other() -> None:
    plan = decide(
        [answer(am("f1", "suppressed", silenced=("s1",))), answer(am("f1"), url=URL_B)],
        [firing("f1")],
    )
    assert plan.observations["f1"].state == "active"
    assert plan.observations["f1"].muted is None


def test_muted_by_names_the_bridge_window_or_the_silence_or_the_inhibiting_alert() -> None:
    node_down = am("src", name="DGXSparkNodeDown")
    plan = decide(
        [
            answer(
                am("f1", "suppressed", silenced=("s-bridge",)),
                am("f2", "suppressed", silenced=("s-am",)),
                am("f3", "suppressed", inhibited=("src",)),
                node_down,
            )
        ],
        [firing("f1"), firing("f2"), firing("f3")],
        windows={"s-bridge": "w-123"},
    )
    assert plan.observations["f1"].muted_by == "window w-123"
    assert plan.observations["f2"].muted_by == "Alertmanager silence s-am"
    assert plan.observations["f3"].muted == "inhibited"
    assert plan.observations["f3"].muted_by == "DGXSparkNodeDown on dgx-spark-01"


@pytest.mark.parametrize(
    ("alert", "known", "previous", "urgent", "added"),
    [
        (am("n1"), {}, {}, False, False),  # first round unknown: the webhook may be on its way
        (am("n1"), {}, {"n1": Observation("active", unknown_rounds=1)}, False, True),
        (am("n1"), {}, {}, True, True),  # a cut webhook: at once
        (am("n1"), {"n1": EPISODE}, {"n1": Observation(unknown_rounds=1)}, True, False),
        (am("n1"), {"n1": EPISODE - timedelta(hours=1)}, {}, True, True),  # a new episode
        (am("n1", "suppressed", silenced=("s",)), {}, {}, True, False),
        (am("n1", "unprocessed"), {}, {}, True, False),
        (am("n1", receivers=("pagerduty-direct",)), {}, {}, True, False),
        (am("n1", receivers=("blackhole", "alert-bridge")), {}, {}, True, True),
    ],
    ids=[
        "unknown-once",
        "unknown-twice",
        "urgent",
        "known-episode",
        "newer-episode",
        "silenced",
        "unprocessed",
        "not-routed-to-the-bridge",
        "routed-to-the-bridge-too",
    ],
)
def test_which_alertmanager_alerts_are_ingested(
    alert: AmAlert,
    known: dict[str, datetime],
    previous: dict[str, Observation],
    urgent: bool,
    added: bool,
) -> None:
    plan = decide([answer(alert)], [], previous, known, urgent=urgent)
    assert [a.fingerprint for a in plan.additions] == (["n1"] if added else [])


def test_nothing_is_ingested_from_an_inconclusive_round() -> None:
    plan = decide([answer(am("n1")), AmFailure(URL_B, "HTTP 500")], [], urgent=True)
    assert plan.additions == ()


def test_an_alert_a_webhook_sent_without_fingerprint_is_matched_by_its_labels() -> None:
    listed = am("a924c5d4c374ca88", "suppressed", silenced=("s1",))
    key = labels_fingerprint(listed.labels)
    plan = decide([answer(listed)], [firing(key)], {key: Observation(ABSENT, absent_rounds=1)})
    assert plan.resolves == () and plan.additions == ()
    assert plan.observations[key].muted == "silenced"


# -- who sent it: an Alertmanager the bridge does not read ------------------------------------

SENT_BY_A, SENT_BY_X = "https://am-a.example:9444", "http://am-x.example:9093"


def sent(fp: str, sender: str | None) -> BridgeAlert:
    return BridgeAlert(
        fp, EPISODE, NOW - timedelta(minutes=10), {"alertname": "HighCPUUsage"}, {}, "", sender
    )


GONE = Observation(ABSENT, absent_rounds=1)  # absent once, never listed
LISTED_THEN_GONE = Observation(ABSENT, absent_rounds=1, seen_at=EPISODE + timedelta(minutes=1))


@pytest.mark.parametrize(
    ("bridge", "previous", "listed", "resolved", "unvouched"),
    [
        # Never listed, and nothing its Alertmanager sent ever was: not one the bridge reads.
        ([sent("x1", SENT_BY_X)], {"x1": GONE}, [], [], [SENT_BY_X]),
        # Listed before (silenced, then resolved while silenced): its own listing vouches.
        ([sent("a1", SENT_BY_A)], {"a1": LISTED_THEN_GONE}, [], ["a1"], []),
        # Another alert of the same sender is listed now: that Alertmanager is read.
        ([sent("a1", SENT_BY_A), sent("a2", SENT_BY_A)], {"a1": GONE}, ["a2"], ["a1"], []),
        # ... or was listed before.
        (
            [sent("a1", SENT_BY_A), sent("a2", SENT_BY_A)],
            {"a1": GONE, "a2": LISTED_THEN_GONE},
            [],
            ["a1", "a2"],
            [],
        ),
        # A listed alert of another sender vouches for nobody else.
        ([sent("x1", SENT_BY_X), sent("a2", SENT_BY_A)], {"x1": GONE}, ["a2"], [], [SENT_BY_X]),
        # Sender unknown (stored before senders were, or brought by reconciliation itself):
        # as before.
        ([sent("o1", None)], {"o1": GONE}, [], ["o1"], []),
    ],
    ids=[
        "unread-alertmanager",
        "itself-listed-before",
        "sibling-listed-now",
        "sibling-listed-before",
        "other-sender-listed",
        "sender-unknown",
    ],
)
def test_an_absence_counts_only_when_an_alertmanager_read_speaks_for_its_sender(
    bridge: list[BridgeAlert],
    previous: dict[str, Observation],
    listed: list[str],
    resolved: list[str],
    unvouched: list[str],
) -> None:
    plan = decide([answer(*(am(fp) for fp in listed))], bridge, previous)
    assert plan.outcome == OK
    assert sorted(r.alert.fingerprint for r in plan.resolves) == resolved
    assert list(plan.unvouched) == unvouched
    if unvouched:
        assert "not in BRIDGE_ALERTMANAGER_URL left alone: " + SENT_BY_X in plan.detail
        # Still counted absent: once the operator adds it, nothing starts over.
        assert plan.observations["x1"].absent_rounds == 2
