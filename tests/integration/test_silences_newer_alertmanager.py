"""Maintenance windows against what newer Alertmanagers do to silences, at both ends of the range.

- 0.32+ holds silences with several matcher sets (from a newer peer or snapshot) and then
  refuses `GET /api/v2/silences` as a whole (HTTP 500); the windows must still sync.
- 0.28+ can cap the number of silences (`--silences.max-silences`, expired ones included):
  a refused silence must be said, visibly, not retried in silence.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, select

from bridge.db.models import OccurrenceRow
from bridge.settings import Settings
from bridge.silences.sync import tag
from tests.integration.test_silences import AM_CONFIG, TOKEN, make, post_window, window
from tests.support.am_snapshot import Matcher, SnapshotSilence, write_silences_snapshot
from tests.support.bridge_app import ctx
from tests.support.peers import PeerVersions
from tests.support.procs import Proc, free_port
from tests.support.scrape import window_occurrences
from tests.support.stack_procs import am_silences, start_alertmanager

pytestmark = pytest.mark.slow


@pytest.fixture
def alertmanager_with_a_two_set_silence(
    tmp_path: Path, peer_versions: PeerVersions
) -> Iterator[Proc]:
    """An Alertmanager that loaded a silence of two matcher sets (a newer peer's)."""
    now = datetime.now(UTC)
    foreign = SnapshotSilence(
        matcher_sets=[[Matcher("alertname", "DiskFull")], [Matcher("alertname", "FanFailed")]],
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=3),
    )
    write_silences_snapshot(tmp_path / "alertmanager-data", [foreign], now + timedelta(days=5))
    config = tmp_path / "am.yml"
    config.write_text(AM_CONFIG)
    with start_alertmanager(config, tmp_path, free_port(), peers=peer_versions) as am:
        yield am


def test_windows_sync_while_alertmanager_refuses_to_list_its_silences(
    settings: Settings,
    engine: Engine,
    alertmanager_with_a_two_set_silence: Proc,
    peer_versions: PeerVersions,
) -> None:
    am = alertmanager_with_a_two_set_silence
    listing = requests.get(f"{am.url}/api/v2/silences", timeout=10)
    if peer_versions.alertmanager_at_least(0, 32):
        # What the bridge is up against (guards this test: the condition is real).
        assert listing.status_code == 500, listing.text
        assert "multiple matcher sets" in listing.text
    else:
        assert listing.status_code == 200  # older versions read the first set only

    app = make(settings, engine, alertmanager_urls=(am.url,))
    created = post_window(app, window())
    assert created.status_code == 201
    body = created.get_json()
    assert body["sync"] == {"state": "synced", "errors": []}, body["sync"]
    (ours,) = body["occurrences"][0]["alertmanagerSilences"].values()
    silence = requests.get(f"{am.url}/api/v2/silence/{ours}", timeout=10).json()
    assert silence["status"]["state"] == "active"
    assert {(m["name"], m["value"]) for m in silence["matchers"]} == {("node", "dgx-spark-02")}

    # A later pass (the scheduler's) finds it again rather than creating a second one.
    ctx(app).windows.sync_due()
    expired = app.test_client().delete(
        f"/silences/{body['id']}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert expired.get_json()["state"] == "expired"
    silence = requests.get(f"{am.url}/api/v2/silence/{ours}", timeout=10).json()
    assert silence["status"]["state"] == "expired"


ODD_MATCHERS = [
    {"name": "alertname", "value": "GPU.*", "isRegex": True},
    {"name": "job", "value": "spark", "isEqual": False},
    # Quotes and a backslash, escaped in the filter (control characters such as a newline
    # are refused in a window's values before they get this far).
    {"name": "model", "value": 'llama "3" \\ 70b q4', "isRegex": False},
]


@pytest.mark.parametrize("extra", [[], ODD_MATCHERS], ids=["node", "regex-negative-escapes"])
def test_a_silence_made_before_a_lost_answer_is_found_not_duplicated(
    settings: Settings,
    engine: Engine,
    alertmanager_with_a_two_set_silence: Proc,
    extra: list[dict[str, object]],
) -> None:
    """The bridge lost Alertmanager's answer (stopped, timed out) after the silence was made:
    the next pass finds it by its tag, asking only for silences with the window's matchers
    (whatever their values), even where the full list is refused."""
    am = alertmanager_with_a_two_set_silence
    app = make(settings, engine, alertmanager_urls=("http://127.0.0.1:1",))
    body = post_window(app, window(matchers=extra)).get_json()
    assert body["sync"]["state"] == "pending"
    occurrence = body["occurrences"][0]
    # What the lost POST had created: the window's silence, tagged as the bridge tags it.
    made = requests.post(
        f"{am.url}/api/v2/silences",
        json={
            "matchers": body["matchers"],
            "startsAt": occurrence["startsAt"],
            "endsAt": occurrence["endsAt"],
            "createdBy": "ops",
            "comment": f"driver upgrade {_tag_of_the_stored_occurrence(engine)}",
        },
        timeout=10,
    )
    assert made.status_code == 200, made.text

    app = make(settings, engine, alertmanager_urls=(am.url,))
    ctx(app).windows.sync_due()
    found = app.test_client().get(f"/silences/{body['id']}").get_json()
    assert found["sync"]["state"] == "synced", found["sync"]
    assert list(found["occurrences"][0]["alertmanagerSilences"].values()) == [
        made.json()["silenceID"]
    ]


def _tag_of_the_stored_occurrence(engine: Engine) -> str:
    with engine.connect() as conn:
        row = conn.execute(select(OccurrenceRow.window_id, OccurrenceRow.starts_at)).one()
    return tag({"window_id": row.window_id, "starts_at": row.starts_at})


# -- Alertmanager's silence limit (0.28+) ----------------------------------------------------

HOURLY = window(
    duration=None, recurrence={"cron": "0 * * * *", "duration": "30m", "timezone": "UTC"}
)
LIMIT = 3


def _occurrence_states(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(OccurrenceRow.sync_state)).scalars())


@pytest.mark.peer_ends("newest")  # --silences.max-silences came with Alertmanager 0.28
def test_a_recurring_window_over_the_silence_limit_is_shown_refused_then_synced(
    settings: Settings,
    engine: Engine,
    tmp_path: Path,
    peer_versions: PeerVersions,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = tmp_path / "am.yml"
    config.write_text(AM_CONFIG)
    port = free_port()
    limited = [f"--silences.max-silences={LIMIT}"]
    with start_alertmanager(config, tmp_path, port, extra_args=limited, peers=peer_versions) as am:
        app = make(settings, engine, alertmanager_urls=(am.url,))
        with caplog.at_level(logging.ERROR, logger="bridge.silences.service"):
            created = post_window(app, HOURLY)
            assert created.status_code == 201, created.get_json()
            ctx(app).windows.sync_due()  # the scheduler's next pass: refused again
        body = app.test_client().get(f"/silences/{created.get_json()['id']}").get_json()
        assert len(am_silences(am.url)) == LIMIT

    # Said where people look: the window's state and error (API and console), and the log.
    assert body["sync"]["state"] == "refused"
    (error,) = body["sync"]["errors"]
    assert "Alertmanager refused the silence" in error
    assert f"exceeded maximum number of silences: {LIMIT} (limit: {LIMIT})" in error
    assert "--silences.max-silences" in error
    states = _occurrence_states(engine)
    refused = states.count("refused")
    assert states.count("synced") == LIMIT and refused == len(states) - LIMIT > 0
    page = app.test_client().get("/windows").get_data(as_text=True)
    assert "refused" in page and "--silences.max-silences" in page
    # One error line per refused occurrence, not one per retry.
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == refused, [r.getMessage() for r in errors]
    # And in /metrics, for MaintenanceWindowNotSynced to page on.
    assert window_occurrences(app) == {
        "pending": 0,
        "synced": LIMIT,
        "refused": refused,
        "invalid": 0,
        "expiring": 0,
    }

    # The operator raises the limit (a restart keeps the silences): the retries get through.
    with start_alertmanager(config, tmp_path, port, peers=peer_versions) as am:
        ctx(app).windows.sync_due()
        body = app.test_client().get(f"/silences/{body['id']}").get_json()
        assert body["sync"]["state"] == "synced", body["sync"]
        assert len(am_silences(am.url)) == len(states)
    assert set(_occurrence_states(engine)) == {"synced"}
    assert window_occurrences(app)["refused"] == 0
    assert window_occurrences(app)["synced"] == len(states)
