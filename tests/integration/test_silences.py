"""Maintenance windows: the /silences API, a real Alertmanager (and a clustered pair) at both
ends of the supported range, local suppression, and recurring windows under a controllable
clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import Engine, select

from bridge.app import create_app
from bridge.db.models import OccurrenceRow
from bridge.jobs import release_held_alerts
from bridge.settings import Settings
from bridge.store import Store
from tests.support.bridge_app import ctx, deliveries
from tests.support.clock import Clock
from tests.support.payloads import alert, payload, resolved
from tests.support.peers import PeerVersions
from tests.support.procs import Proc, free_port, wait_until
from tests.support.scrape import window_occurrences
from tests.support.stack_procs import am_silences, start_alertmanager

TOKEN = "api-token-for-tests-0123456789abcdef"
AM_CONFIG = """
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""


def make(settings: Settings, engine: Engine, clock: Any = None, **overrides: Any) -> Flask:
    configured = replace(settings, api_token=TOKEN, **overrides)
    kwargs = {"clock": clock} if clock else {}
    app = create_app(configured, store=Store(engine), **kwargs)
    app.testing = True
    return app


def post_window(app: Flask, body: dict[str, Any], token: str | None = TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().post(
        "/silences", data=json.dumps(body), content_type="application/json", headers=headers
    )


def window(**overrides: Any) -> dict[str, Any]:
    body = {
        "node": "dgx-spark-02",
        "duration": "2h",
        "createdBy": "ops",
        "comment": "driver upgrade",
    }
    body.update(overrides)
    return body


@pytest.fixture
def alertmanager(tmp_path: Path, peer_versions: PeerVersions) -> Iterator[Proc]:
    config = tmp_path / "am.yml"
    config.write_text(AM_CONFIG)
    with start_alertmanager(config, tmp_path, free_port(), peers=peer_versions) as am:
        yield am


# --- validation and auth ----------------------------------------------------------------

BAD = [
    ("no matchers", {"createdBy": "ops", "comment": "x", "duration": "1h"}, "matchers"),
    (
        "matches everything",
        window(node=None, matchers=[{"name": "alertname", "value": ".*", "isRegex": True}]),
        "matchers",
    ),
    (
        "end before start",
        window(duration=None, startsAt="2030-01-01T02:00:00Z", endsAt="2030-01-01T01:00:00Z"),
        "endsAt",
    ),
    (
        "end in the past",
        window(duration=None, startsAt="2020-01-01T00:00:00Z", endsAt="2020-01-01T01:00:00Z"),
        "endsAt",
    ),
    (
        "invalid regex",
        window(matchers=[{"name": "alertname", "value": "GPU(", "isRegex": True}]),
        "matchers[0].value",
    ),
    ("too long", window(duration="8d"), "duration"),
    (
        "too long by its end",
        window(duration=None, endsAt=(datetime.now(UTC) + timedelta(days=8)).isoformat()),
        "endsAt",
    ),
    ("bad duration", window(duration="two hours"), "duration"),
    (
        "invalid cron",
        window(duration=None, recurrence={"cron": "0 25 * * *", "duration": "1h"}),
        "recurrence.cron",
    ),
    (
        "invalid timezone",
        window(
            duration=None,
            recurrence={"cron": "0 2 * * SUN", "duration": "1h", "timezone": "Mars/Base"},
        ),
        "recurrence.timezone",
    ),
    ("missing comment", window(comment=""), "comment"),
    ("bad label name", window(matchers=[{"name": "1x", "value": "y"}]), "matchers[0].name"),
    ("body not an object", ["x"], "body"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD, ids=[b[0] for b in BAD])
def test_invalid_window_is_400_naming_the_problem(
    settings: Settings, engine: Engine, case: str, body: Any, field: str
) -> None:
    app = make(settings, engine, alertmanager_urls=("http://127.0.0.1:1",))
    response = post_window(app, body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["detail"]["field"] == field
    assert app.test_client().get("/silences").get_json()["silences"] == []


def test_writes_need_the_api_token(settings: Settings, engine: Engine) -> None:
    app = make(settings, engine, alertmanager_urls=("http://127.0.0.1:1",))
    assert post_window(app, window(), token=None).status_code == 401
    assert post_window(app, window(), token="wrong").status_code == 403
    assert app.test_client().delete("/silences/abc").status_code == 401


def test_writes_are_refused_with_advice_when_no_token_is_configured(
    settings: Settings, engine: Engine
) -> None:
    app = create_app(replace(settings, api_token=None), store=Store(engine))
    response = post_window(app, window(), token="anything")
    assert response.status_code == 403
    assert "BRIDGE_API_TOKEN" in response.get_json()["detail"]


# --- real Alertmanager ------------------------------------------------------------------


def test_window_appears_in_alertmanager_with_matchers_and_times(
    settings: Settings, engine: Engine, alertmanager: Proc
) -> None:
    app = make(settings, engine, alertmanager_urls=(alertmanager.url,))
    created = post_window(
        app, window(matchers=[{"name": "alertname", "value": "GPU.*", "isRegex": True}])
    )
    assert created.status_code == 201
    body = created.get_json()
    assert body["state"] == "active" and body["sync"]["state"] == "synced"

    (silence,) = am_silences(alertmanager.url)
    assert silence["status"]["state"] == "active"
    assert {(m["name"], m["value"], m["isRegex"]) for m in silence["matchers"]} == {
        ("alertname", "GPU.*", True),
        ("node", "dgx-spark-02", False),
    }
    ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    starts = datetime.fromisoformat(silence["startsAt"].replace("Z", "+00:00"))
    assert timedelta(hours=1, minutes=59) < ends - starts <= timedelta(hours=2, seconds=1)

    expired = app.test_client().delete(
        f"/silences/{body['id']}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert expired.status_code == 200 and expired.get_json()["state"] == "expired"
    (silence,) = am_silences(alertmanager.url)
    assert silence["status"]["state"] == "expired"


def test_pending_window_turns_active_on_time(
    settings: Settings, engine: Engine, alertmanager: Proc
) -> None:
    app = make(settings, engine, alertmanager_urls=(alertmanager.url,))
    start = datetime.now(UTC) + timedelta(seconds=3)
    body = post_window(app, window(startsAt=start.isoformat())).get_json()
    assert body["state"] == "pending"
    (silence,) = am_silences(alertmanager.url)
    assert silence["status"]["state"] == "pending"
    wait_until(
        lambda: am_silences(alertmanager.url)[0]["status"]["state"] == "active" or None,
        timeout=15,
        what="silence active",
    )
    assert app.test_client().get(f"/silences/{body['id']}").get_json()["state"] == "active"


def test_alertmanager_down_during_creation_is_synced_after_it_returns(
    settings: Settings, engine: Engine, tmp_path: Path, peer_versions: PeerVersions
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = make(settings, engine, alertmanager_urls=(url,))
    created = post_window(app, window())
    assert created.status_code == 201
    assert created.get_json()["sync"]["state"] == "pending"

    config = tmp_path / "am.yml"
    config.write_text(AM_CONFIG)
    with start_alertmanager(config, tmp_path, port, peers=peer_versions):
        assert ctx(app).windows.sync_due() == 1  # what the scheduler runs every 30 s
        assert len(am_silences(url)) == 1
    listed = app.test_client().get("/silences").get_json()["silences"]
    assert listed[0]["sync"]["state"] == "synced"


def test_clustered_pair_both_hold_the_window(
    settings: Settings, engine: Engine, tmp_path: Path, peer_versions: PeerVersions
) -> None:
    config = tmp_path / "am.yml"
    config.write_text(AM_CONFIG)
    c1, c2 = free_port(), free_port()
    with (
        start_alertmanager(
            config,
            tmp_path,
            free_port(),
            cluster_port=c1,
            cluster_peers=[c2],
            name="am1",
            peers=peer_versions,
        ) as am1,
        start_alertmanager(
            config,
            tmp_path,
            free_port(),
            cluster_port=c2,
            cluster_peers=[c1],
            name="am2",
            peers=peer_versions,
        ) as am2,
    ):
        app = make(settings, engine, alertmanager_urls=(am1.url, am2.url))
        body = post_window(app, window()).get_json()
        wait_until(lambda: am_silences(am2.url) or None, timeout=30, what="gossip to am2")
        ctx(app).windows.sync_due()
        found = app.test_client().get(f"/silences/{body['id']}").get_json()
        assert found["sync"]["state"] == "synced"
        ids = found["occurrences"][0]["alertmanagerSilences"]
        assert ids[am1.url] == ids[am2.url]  # one silence, replicated by the cluster
        assert len(am_silences(am1.url)) == len(am_silences(am2.url)) == 1

        app.test_client().delete(
            f"/silences/{body['id']}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        wait_until(
            lambda: all(s["status"]["state"] == "expired" for s in am_silences(am2.url)) or None,
            timeout=30,
            what="expiry on am2",
        )


# Regexes the bridge accepts in windows, in RE2 syntax that both Go and RE2 read alike.
ACCEPTED_REGEXES = ["GPU.*", "(?i)gpu[[:digit:]]+", "\\pL+x", "(?P<n>GPU)x", "\\Qa.b\\E", "x\\z"]
# And those it refuses, as every Alertmanager does.
REFUSED_REGEXES = ["(?=G)x", "(x)\\1", "x\\Z", "x++", "x\\C", "GPU)|(x"]


def test_regexes_the_bridge_accepts_alertmanager_accepts_and_those_it_refuses_it_refuses(
    settings: Settings, engine: Engine, alertmanager: Proc, peer_versions: PeerVersions
) -> None:
    """What the bridge accepts, every supported Alertmanager accepts; what it refuses, the
    oldest refuses too. (Alertmanager 0.27+ takes UTF-8 label names, a trailing newline
    included: the bridge still refuses those, since the oldest end would not take them.)"""
    app = make(settings, engine, alertmanager_urls=(alertmanager.url,))
    for pattern in ACCEPTED_REGEXES:
        body = window(matchers=[{"name": "alertname", "value": pattern, "isRegex": True}])
        created = post_window(app, body)
        assert created.status_code == 201, (pattern, created.get_json())
        assert created.get_json()["sync"]["state"] == "synced", (pattern, created.get_json())
    assert len(am_silences(alertmanager.url)) == len(ACCEPTED_REGEXES)

    now = datetime.now(UTC)
    for name, pattern in [("alertname", p) for p in REFUSED_REGEXES] + [("node\n", "x")]:
        matchers = [{"name": name, "value": pattern, "isRegex": name == "alertname"}]
        answer = post_window(app, window(matchers=matchers))
        assert answer.status_code == 400, (pattern, answer.get_json())
        direct = requests.post(
            f"{alertmanager.url}/api/v2/silences",
            json={
                "matchers": [{**matchers[0], "isEqual": True}],
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(hours=1)).isoformat(),
                "createdBy": "test",
                "comment": "what Alertmanager says",
            },
            timeout=10,
        )
        if name == "alertname" or peer_versions.end == "oldest":
            assert direct.status_code == 400, (pattern, direct.text)


# --- local suppression ------------------------------------------------------------------


def test_alert_inside_a_window_is_held_back_and_delivered_after_it_if_still_firing(
    settings: Settings, engine: Engine
) -> None:
    clock = Clock(datetime.now(UTC))
    app = make(settings, engine, clock=clock, alertmanager_urls=("http://127.0.0.1:1",))
    post_window(app, window(duration="1h"))
    client = app.test_client()
    inside = alert(node="dgx-spark-02")
    other = alert(node="dgx-spark-01")
    body = client.post(
        "/webhook/alertmanager",
        data=json.dumps(payload(inside, other)),
        content_type="application/json",
    ).get_json()
    assert body["suppressed"] == 1
    assert {d["snapshot"]["labels"]["node"] for d in deliveries(engine)} == {"dgx-spark-01"}

    assert release_held_alerts(ctx(app)) == 0  # window still active
    clock.now += timedelta(hours=1, seconds=1)
    assert release_held_alerts(ctx(app)) == 1
    assert release_held_alerts(ctx(app)) == 0  # never twice
    held = [d for d in deliveries(engine) if d["snapshot"]["labels"]["node"] == "dgx-spark-02"]
    assert [(d["channel"], d["action"]) for d in held] == [
        ("pagerduty", "trigger"),
        ("slack", "trigger"),
    ]


def test_alert_resolved_inside_its_window_is_never_delivered(
    settings: Settings, engine: Engine
) -> None:
    clock = Clock(datetime.now(UTC))
    app = make(settings, engine, clock=clock, alertmanager_urls=("http://127.0.0.1:1",))
    post_window(app, window(duration="1h"))
    client = app.test_client()
    inside = alert(node="dgx-spark-02")
    for body in (payload(inside), payload(resolved(inside))):
        client.post("/webhook/alertmanager", data=json.dumps(body), content_type="application/json")
    clock.now += timedelta(hours=2)
    assert release_held_alerts(ctx(app)) == 0
    assert deliveries(engine) == []


def test_watchdog_is_not_muted_by_a_node_window(settings: Settings, engine: Engine) -> None:
    from bridge.silences.matching import Matcher, mutes

    node_window = (Matcher("alertname", ".+", is_regex=True),)
    assert not mutes(node_window, {"alertname": "Watchdog"})
    assert mutes((Matcher("alertname", "Watchdog"),), {"alertname": "Watchdog"})


# --- recurring windows ------------------------------------------------------------------


def occurrence_starts(engine: Engine) -> list[datetime]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(OccurrenceRow.starts_at).order_by(OccurrenceRow.starts_at)
            ).scalars()
        )


def test_recurring_window_across_restarts_and_a_dst_change(
    settings: Settings, engine: Engine
) -> None:
    """Weekly Sunday 02:00 Europe/Berlin for 2 h, around the spring DST change of 2027-03-28."""
    clock = Clock(datetime(2027, 3, 19, 12, 0, tzinfo=UTC))
    unreachable = ("http://127.0.0.1:1",)
    app = make(settings, engine, clock=clock, alertmanager_urls=unreachable)
    recurring = window(
        duration=None,
        recurrence={"cron": "0 2 * * SUN", "duration": "2h", "timezone": "Europe/Berlin"},
    )
    created = post_window(app, recurring)
    assert created.status_code == 201
    assert created.get_json()["state"] == "pending"
    assert occurrence_starts(engine) == []  # the first is more than 24 h away

    seen: list[datetime] = []
    for day in range(1, 17):
        clock.now = datetime(2027, 3, 19, 12, 0, tzinfo=UTC) + timedelta(days=day)
        if day % 5 == 0:  # a restart: a new app on the same database, nothing in memory
            app = make(settings, engine, clock=clock, alertmanager_urls=unreachable)
        ctx(app).windows.plan()
        ctx(app).windows.plan()  # twice: never two occurrences for one slot
        seen = occurrence_starts(engine)

    assert seen == [
        datetime(2027, 3, 21, 1, 0, tzinfo=UTC),  # 02:00 CET
        datetime(2027, 3, 28, 1, 0, tzinfo=UTC),  # 02:00 does not exist that night: 03:00 CEST
        datetime(2027, 4, 4, 0, 0, tzinfo=UTC),  # 02:00 CEST
    ]
    # During an occurrence the window is active and mutes matching alerts.
    clock.now = datetime(2027, 4, 4, 1, 0, tzinfo=UTC)
    listed = app.test_client().get("/silences?state=active").get_json()["silences"]
    assert len(listed) == 1
    client = app.test_client()
    body = client.post(
        "/webhook/alertmanager",
        data=json.dumps(payload(alert(node="dgx-spark-02", starts_at="2027-04-04T00:59:00Z"))),
        content_type="application/json",
    ).get_json()
    assert body["suppressed"] == 1


@pytest.mark.parametrize(
    ("cron", "weekdays"),
    [
        ("0 2 * * 0", {"Sun"}),
        ("0 2 * * 7", {"Sun"}),
        ("0 2 * * 1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("0 2 * * 6,0", {"Sat", "Sun"}),
        ("0 2 * * */3", {"Sun", "Wed", "Sat"}),
        ("0 2 * * SUN", {"Sun"}),
    ],
)
def test_a_recurring_window_numbers_weekdays_as_crontab_does(
    settings: Settings, engine: Engine, cron: str, weekdays: set[str]
) -> None:
    """0 and 7 are Sunday, 1 Monday (APScheduler's own numbering starts at Monday = 0)."""
    clock = Clock(datetime(2027, 3, 1, 12, 0, tzinfo=UTC))  # a Monday
    app = make(settings, engine, clock=clock, alertmanager_urls=("http://127.0.0.1:1",))
    recurring = window(duration=None, recurrence={"cron": cron, "duration": "1h"})
    assert post_window(app, recurring).status_code == 201
    for day in range(1, 15):
        clock.now = datetime(2027, 3, 1, 12, 0, tzinfo=UTC) + timedelta(days=day)
        ctx(app).windows.plan()
    starts = occurrence_starts(engine)
    assert {s.strftime("%a") for s in starts} == weekdays, [s.isoformat() for s in starts]
    assert all(s.hour == 2 for s in starts)


def test_metrics_count_live_occurrences_by_sync_state_and_forget_ended_ones(
    settings: Settings, engine: Engine
) -> None:
    clock = Clock(datetime(2027, 3, 1, 12, 0, tzinfo=UTC))
    app = make(settings, engine, clock=clock, alertmanager_urls=("http://127.0.0.1:1",))
    empty = {"pending": 0, "synced": 0, "refused": 0, "invalid": 0, "expiring": 0}
    assert window_occurrences(app) == empty  # every state reads 0, none is absent
    assert post_window(app, window()).status_code == 201  # Alertmanager unreachable
    assert window_occurrences(app) == empty | {"pending": 1}
    clock.now += timedelta(hours=2, seconds=1)  # the window is over
    assert window_occurrences(app) == empty


def test_listing_filters_by_state_and_node(settings: Settings, engine: Engine) -> None:
    app = make(settings, engine, alertmanager_urls=("http://127.0.0.1:1",))
    post_window(app, window(node="dgx-spark-01"))
    post_window(app, window(node="dgx-spark-02", startsAt="2030-01-01T00:00:00Z", duration="1h"))
    client = app.test_client()
    assert len(client.get("/silences?node=dgx-spark-01").get_json()["silences"]) == 1
    assert len(client.get("/silences?state=pending").get_json()["silences"]) == 1
    assert client.get("/silences?state=bogus").status_code == 400
    assert client.get("/silences/nope").status_code == 404
