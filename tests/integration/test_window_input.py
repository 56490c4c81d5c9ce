"""Hostile and careless maintenance windows through `POST /silences`, on both databases
(issue 25: a regex that froze the process, windows that mute everything, text the console
cannot show, times and durations that overflow, recurrences that flood Alertmanager)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, insert

from bridge.db.engine import make_engine
from bridge.db.migrate import upgrade
from bridge.db.models import OccurrenceRow, WindowRow
from bridge.settings import Settings
from bridge.silences.alertmanager import INVALID_SILENCE
from tests.e2e.test_hostile_input import (
    FUZZ,
    _present,
    column_text,
    hostile_text,
    json_values,
    maybe,
    time_values,
)
from tests.integration.test_silences import alertmanager, make, post_window, window  # noqa: F401
from tests.support.bridge_app import ctx, deliveries
from tests.support.payloads import alert, payload
from tests.support.procs import Proc

UNREACHABLE = ("http://127.0.0.1:1",)


def regex(name: str, value: str, *, equal: bool = True) -> dict[str, Any]:
    return {"name": name, "value": value, "isRegex": True, "isEqual": equal}


def refused(response: Any, field: str) -> str:
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True))
    detail = response.get_json()["detail"]
    assert detail["field"] == field, detail
    return str(detail["message"])


def post_alerts(app: Any, *alerts: dict[str, Any]) -> dict[str, Any]:
    answer = app.test_client().post(
        "/webhook/alertmanager", data=json.dumps(payload(*alerts)), content_type="application/json"
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body: dict[str, Any] = answer.get_json()
    return body


# --- item 1: regexes as Alertmanager runs them -----------------------------------------------


@pytest.mark.timeout(120)  # backtracking never finishes 2^4000 steps; RE2 is one pass
def test_a_catastrophic_regex_matches_what_it_says_and_a_long_adversarial_label_is_matched_at_once(
    settings: Settings, engine: Engine
) -> None:
    app = make(settings, engine, alertmanager_urls=UNREACHABLE)
    created = post_window(app, window(node=None, matchers=[regex("node", "(a+)+b")]))
    assert created.status_code == 201, created.get_json()

    adversarial = alert(
        node="a" * 4000, fingerprint="adversarial"
    )  # no `b`: a backtracking engine tries every split
    inside = alert(node="a" * 4000 + "b", fingerprint="inside")
    body = post_alerts(app, adversarial, inside)
    assert body["suppressed"] == 1
    delivered = {d["snapshot"]["labels"]["node"] for d in deliveries(engine)}
    assert delivered == {"a" * 4000}
    assert app.test_client().get("/healthz").status_code == 200


REFUSED_REGEXES = [
    ("lookahead", "(?=G)GPU.*"),
    ("negative lookahead", "(?!Watchdog).*GPU"),
    ("lookbehind", "(?<=x)GPU"),
    ("backreference", "(GPU)\\1"),
    ("end of text before a newline", "GPU.*\\Z"),
    ("possessive quantifier", "GPU.++"),
    ("any byte", "GPU\\C"),
    ("named group in the syntax Go 1.22 added", "(?<x>GPU)"),
    ("unbalanced: other meaning once anchored", "GPU)|(x"),
    ("repetition over RE2's limit", "a{1001}"),
]


@pytest.mark.parametrize(("case", "pattern"), REFUSED_REGEXES, ids=[c for c, _ in REFUSED_REGEXES])
def test_a_regex_alertmanager_would_refuse_is_refused_with_the_reason(
    settings: Settings, engine: Engine, case: str, pattern: str
) -> None:
    app = make(settings, engine, alertmanager_urls=UNREACHABLE)
    answer = post_window(app, window(matchers=[regex("alertname", pattern)]))
    message = refused(answer, "matchers[0].value")
    assert message.startswith("invalid regular expression: "), message
    assert app.test_client().get("/silences").get_json()["silences"] == []


# --- item 3: "matches everything" by what the matchers accept --------------------------------

EVERYTHING = [
    ("any name", [regex("alertname", ".+")]),
    ("any name but none", [{"name": "alertname", "value": "", "isEqual": False}]),
    ("any severity across lines", [regex("severity", "(?s).+")]),
    ("any name or none", [regex("alertname", ".*")]),
    ("no name excluded", [regex("alertname", "", equal=False)]),
    ("alternation of everything", [regex("alertname", "[A-Z].*|[^A-Z].*")]),
    (
        "two of them",
        [regex("alertname", ".+"), {"name": "severity", "value": "", "isEqual": False}],
    ),
    ("any node, the empty one too", [regex("node", "(?s).*"), regex("alertname", "\\w*|\\W.*|.+")]),
]


@pytest.mark.parametrize(("case", "matchers"), EVERYTHING, ids=[c for c, _ in EVERYTHING])
def test_a_window_that_mutes_every_alert_is_refused_and_a_critical_still_pages(
    settings: Settings, engine: Engine, case: str, matchers: list[dict[str, Any]]
) -> None:
    app = make(settings, engine, alertmanager_urls=UNREACHABLE)
    message = refused(post_window(app, window(node=None, matchers=matchers)), "matchers")
    assert "match every alert" in message

    body = post_alerts(app, alert("GPUTemperatureCritical", severity="critical"))
    assert body["suppressed"] == 0
    assert [(d["channel"], d["action"]) for d in deliveries(engine)] == [
        ("pagerduty", "trigger"),
        ("slack", "trigger"),
    ]


NARROW = [
    ("names starting GPU", [regex("alertname", "GPU.+")]),
    ("two severities", [regex("severity", "critical|warning")]),
    ("alerts that have a node", [regex("node", ".+")]),
    (
        "all but one name, on one node",
        [regex("alertname", "Watchdog", equal=False), {"name": "node", "value": "dgx-spark-02"}],
    ),
]


@pytest.mark.parametrize(("case", "matchers"), NARROW, ids=[c for c, _ in NARROW])
def test_a_window_that_leaves_some_alert_unmuted_is_accepted(
    settings: Settings, engine: Engine, case: str, matchers: list[dict[str, Any]]
) -> None:
    app = make(settings, engine, alertmanager_urls=UNREACHABLE)
    answer = post_window(app, window(node=None, matchers=matchers))
    assert answer.status_code == 201, answer.get_json()


# --- item 5: text every page can show -------------------------------------------------------

UNSHOWABLE = [
    ("lone surrogate in node", window(node="dgx-\ud800"), "node"),
    (
        "lone surrogate in a matcher value",
        window(matchers=[{"name": "gpu", "value": "\udfff"}]),
        "matchers[0].value",
    ),
    ("NUL in node", window(node="dgx\x00"), "node"),
    ("escape sequence in createdBy", window(createdBy="ops\x1b[2J"), "createdBy"),
    ("NUL in comment", window(comment="upgrade\x00"), "comment"),
    ("lone surrogate in comment", window(comment="up\ud83dgrade"), "comment"),
    (
        "huge matcher value",
        window(matchers=[{"name": "gpu", "value": "0" * 5000}]),
        "matchers[0].value",
    ),
    (
        "label name with a trailing newline",
        window(matchers=[{"name": "node\n", "value": "x"}]),
        "matchers[0].name",
    ),
    ("non-ASCII label name", window(matchers=[{"name": "nöde", "value": "x"}]), "matchers[0].name"),
]


@pytest.mark.parametrize(("case", "body", "field"), UNSHOWABLE, ids=[c[0] for c in UNSHOWABLE])
def test_text_no_reader_can_handle_is_refused_and_the_console_keeps_working(
    settings: Settings, engine: Engine, case: str, body: dict[str, Any], field: str
) -> None:
    app = make(settings, engine, alertmanager_urls=UNREACHABLE)
    refused(post_window(app, body), field)
    client = app.test_client()
    assert client.get("/silences").get_json()["silences"] == []
    for page in ("/", "/windows"):
        assert client.get(page).status_code == 200, page


def test_a_comment_may_span_lines(settings: Settings, engine: Engine) -> None:
    app = make(settings, engine, alertmanager_urls=UNREACHABLE)
    answer = post_window(app, window(comment="driver upgrade\n\tsee the change ticket"))
    assert answer.status_code == 201, answer.get_json()
    assert app.test_client().get("/windows").status_code == 200


# --- item 7: times, durations, recurrences -------------------------------------------------

OUT_OF_RANGE = [
    ("duration that overflows", window(duration="99999999999d"), "duration"),
    ("start in 9999", window(startsAt="9999-12-31T23:59:59Z"), "startsAt"),
    ("end in 9999", window(duration=None, endsAt="9999-12-31T23:59:59Z"), "endsAt"),
    ("ISO week date", window(startsAt="2026-W49-1T10:00:00Z"), "startsAt"),
    ("ISO basic format", window(duration=None, endsAt="20301205T100000Z"), "endsAt"),
    ("no offset", window(startsAt="2030-01-01T10:00:00"), "startsAt"),
    ("February 30", window(startsAt="2030-02-30T10:00:00Z"), "startsAt"),
    ("start as a number", window(startsAt=1e300), "startsAt"),
    (
        "recurring start in 9999",
        window(
            duration=None,
            startsAt="9999-01-01T00:00:00Z",
            recurrence={"cron": "0 2 * * SUN", "duration": "1h"},
        ),
        "startsAt",
    ),
    (
        "recurrence lasting 99999999999d",
        window(duration=None, recurrence={"cron": "0 2 * * SUN", "duration": "99999999999d"}),
        "recurrence.duration",
    ),
]


@pytest.mark.parametrize(("case", "body", "field"), OUT_OF_RANGE, ids=[c[0] for c in OUT_OF_RANGE])
def test_times_and_durations_out_of_range_or_not_rfc3339_are_400_naming_the_field(
    settings: Settings, engine: Engine, case: str, body: dict[str, Any], field: str
) -> None:
    app = make(settings, engine, alertmanager_urls=UNREACHABLE)
    refused(post_window(app, body), field)


def test_a_recurrence_whose_occurrences_would_overlap_is_refused_with_the_reason(
    settings: Settings, engine: Engine
) -> None:
    app = make(settings, engine, alertmanager_urls=UNREACHABLE)
    every_minute = window(duration=None, recurrence={"cron": "* * * * *", "duration": "1d"})
    message = refused(post_window(app, every_minute), "recurrence.duration")
    assert "overlap" in message and "1m" in message
    hourly_too_long = window(duration=None, recurrence={"cron": "0 * * * *", "duration": "61m"})
    refused(post_window(app, hourly_too_long), "recurrence.duration")
    hourly = window(duration=None, recurrence={"cron": "0 * * * *", "duration": "1h"})
    assert post_window(app, hourly).status_code == 201


def test_a_cron_that_never_fires_is_refused(settings: Settings, engine: Engine) -> None:
    app = make(settings, engine, alertmanager_urls=UNREACHABLE)
    never = window(duration=None, recurrence={"cron": "0 0 30 2 *", "duration": "1h"})
    assert "never fires" in refused(post_window(app, never), "recurrence.cron")
    leap_day = window(duration=None, recurrence={"cron": "0 0 29 2 *", "duration": "1h"})
    assert post_window(app, leap_day).status_code == 201


def test_planning_a_stored_cron_that_never_fires_searches_no_further_than_the_horizon(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window stored before such crons were refused: the planning pass (inside a write
    transaction) must give up at its horizon instead of walking the calendar to 9999."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(WindowRow).values(
                id="feb30",
                matchers=[{"name": "node", "value": "x", "isRegex": False, "isEqual": True}],
                created_by="ops",
                comment="from an older bridge",
                created_at=now,
                starts_at=now,
                cron="0 0 30 2 *",
                duration_seconds=3600,
                timezone="UTC",
            )
        )
    examined: list[datetime] = []
    increment = CronTrigger._increment_field_value

    def spy(self: CronTrigger, dateval: datetime, fieldnum: int) -> Any:
        examined.append(dateval)
        return increment(self, dateval, fieldnum)

    monkeypatch.setattr(CronTrigger, "_increment_field_value", spy)
    app = make(settings, engine, alertmanager_urls=UNREACHABLE)
    assert ctx(app).windows.plan() == 0
    assert examined, "the search ran"
    assert max(examined).year <= (now + timedelta(days=2)).year


# --- windows stored by an older bridge --------------------------------------------------------


def store_legacy_window(engine: Engine, window_id: str, matchers: list[dict[str, Any]]) -> None:
    """A window as an older bridge stored it, before its regex would have been refused."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(WindowRow).values(
                id=window_id,
                matchers=matchers,
                created_by="ops",
                comment="from an older bridge",
                created_at=now,
                starts_at=now,
                ends_at=now + timedelta(hours=1),
            )
        )
        conn.execute(
            insert(OccurrenceRow).values(
                window_id=window_id,
                starts_at=now,
                ends_at=now + timedelta(hours=1),
                am_silences={},
                sync_state="pending",
            )
        )


LOOKAHEAD = [
    {"name": "alertname", "value": "(?=G)GPU.*", "isRegex": True, "isEqual": True},
    {"name": "node", "value": "dgx-spark-01", "isRegex": False, "isEqual": True},
]


def test_a_stored_window_with_a_regex_re2_refuses_mutes_nothing_and_the_webhook_keeps_working(
    settings: Settings, engine: Engine
) -> None:
    store_legacy_window(engine, "lookahead", LOOKAHEAD)
    app = make(settings, engine, alertmanager_urls=UNREACHABLE)
    body = post_alerts(app, alert("GPUTemperatureCritical", node="dgx-spark-01"))
    assert body["suppressed"] == 0  # Alertmanager never took this silence either
    assert [d["channel"] for d in deliveries(engine)] == ["pagerduty", "slack"]
    assert app.test_client().get("/windows").status_code == 200


def test_a_stored_window_alertmanager_refuses_is_shown_invalid_and_not_retried_every_pass(
    settings: Settings,
    engine: Engine,
    alertmanager: Proc,  # noqa: F811 - the fixture imported from test_silences
) -> None:
    store_legacy_window(engine, "lookahead", LOOKAHEAD)
    app = make(settings, engine, alertmanager_urls=(alertmanager.url,))
    assert ctx(app).windows.sync_due() == 1
    shown = app.test_client().get("/silences/lookahead").get_json()
    assert shown["sync"]["state"] == "invalid"
    # Alertmanager's words: "silence invalid" (0.25), "invalid silence" (0.33).
    assert any(w in e for e in shown["sync"]["errors"] for w in INVALID_SILENCE)
    assert ctx(app).windows.sync_due() == 0  # no warning every 30 s, forever


def test_a_window_stored_with_a_lone_surrogate_no_longer_breaks_the_console_after_upgrade(
    settings: Settings, db_url: str
) -> None:
    """Stored by an older bridge (the JSON column keeps `\\ud800` escaped); expired, it kept
    `/windows` at 500 until 20 newer windows had expired."""
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0009")
        windows = sa.table(
            "windows",
            *(sa.column(c) for c in ("id", "created_by", "comment", "created_at", "starts_at")),
            sa.column("ends_at"),
            sa.column("expired_at"),
            sa.column("matchers", sa.JSON),
        )
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                windows.insert().values(
                    id="surrogate",
                    matchers=[{"name": "node", "value": "dgx-\ud800", "isRegex": False}],
                    created_by="probe",
                    comment="c",
                    created_at=now - timedelta(hours=2),
                    starts_at=now - timedelta(hours=2),
                    ends_at=now - timedelta(hours=1),
                    expired_at=now - timedelta(hours=1),
                )
            )
        upgrade(engine)
        app = make(settings, engine, alertmanager_urls=UNREACHABLE)
        page = app.test_client().get("/windows")
        assert page.status_code == 200
        assert "dgx-\ufffd" in page.get_data(as_text=True)
    finally:
        engine.dispose()


# --- generated windows: never a 5xx, never a broken page -------------------------------------

HOSTILE_SAMPLES = {
    "names": ["alertname", "node", "severity", "node\n", "1x"],
    "values": [".+", "(a+)+b", "(?=G)x", ".*", "GPU.*", "", "(?s).+", "a{1001}", "x\\C"],
    "durations": ["1h", "99999999999d", "0s", "2h30m", "1d", "-1h"],
    "crons": ["* * * * *", "0 0 30 2 *", "0 2 * * SUN", "61 * * * *", "0 * * * *"],
}
matchers_ish = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {
                "name": st.one_of(st.sampled_from(HOSTILE_SAMPLES["names"]), column_text),
                "value": st.one_of(st.sampled_from(HOSTILE_SAMPLES["values"]), column_text),
                "isRegex": st.one_of(st.booleans(), json_values),
                "isEqual": st.booleans(),
            }
        ),
        max_size=3,
    ),
    json_values,
)
HOSTILE_FIELDS = {
    "node": st.one_of(column_text, json_values),
    "matchers": matchers_ish,
    "startsAt": time_values,
    "endsAt": time_values,
    "duration": st.one_of(st.sampled_from(HOSTILE_SAMPLES["durations"]), hostile_text, json_values),
    "createdBy": st.one_of(column_text, json_values),
    "comment": st.one_of(column_text, json_values),
    "recurrence": st.one_of(
        st.fixed_dictionaries(
            {
                "cron": st.one_of(st.sampled_from(HOSTILE_SAMPLES["crons"]), hostile_text),
                "duration": st.sampled_from(HOSTILE_SAMPLES["durations"]),
                "timezone": maybe(
                    st.one_of(st.sampled_from(["UTC", "Europe/Berlin"]), hostile_text)
                ),
            }
        ).map(_present),
        json_values,
    ),
}


@st.composite
def window_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid window with one or two fields hostile (or left out): each reaches the code
    that handles it, instead of stopping at the first field the parser checks."""
    body: dict[str, Any] = window()
    for key in draw(st.lists(st.sampled_from(sorted(HOSTILE_FIELDS)), min_size=1, max_size=2)):
        body[key] = draw(maybe(HOSTILE_FIELDS[key]))
    if "recurrence" in body or "endsAt" in body:
        body.pop("duration", None)
    return _present(body)


@FUZZ
@given(body=window_bodies())
def test_any_generated_window_is_201_or_a_400_naming_a_field_and_every_page_still_renders(
    settings: Settings, engine: Engine, body: dict[str, Any]
) -> None:
    app = make(settings, engine, alertmanager_urls=UNREACHABLE)
    answer = post_window(app, body)
    assert answer.status_code in (201, 400), (body, answer.get_data(as_text=True))
    if answer.status_code == 400:
        field = answer.get_json()["detail"]["field"]
        assert field.split(".")[0].split("[")[0] in {"body", *HOSTILE_FIELDS}, field
    client = app.test_client()
    for page in ("/", "/windows", "/silences"):
        assert client.get(page).status_code == 200, (page, body)
