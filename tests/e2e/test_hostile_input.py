"""Hostile input: whatever reaches the parser or the webhook, the answer is never a crash.

Alertmanager retries 5xx forever and drops 4xx, so a 5xx for input that can never succeed
blocks every other alert of its group. The contract (DESIGN.md): malformed input gets a 4xx
whose JSON names the field, nothing is stored, and no input loses or changes an alert that
is already stored.

Hypothesis generates JSON-like values, near-valid payloads (a valid skeleton with hostile
values: NUL, lone surrogates, huge numbers, far-away timestamps), random bodies, content
types and headers. The known cases it found are pinned as plain tests below the fuzzers.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from bridge.alerts import PayloadError, WebhookPayload, parse_payload
from bridge.app import create_app
from bridge.db.engine import make_engine
from bridge.db.migrate import upgrade
from bridge.db.models import AlertRow, DeliveryRow, TransitionRow
from bridge.settings import load_settings
from bridge.store import Store
from tests.e2e.conftest_ha import WEBHOOK_TOKEN, closed_port, pg_url_fixture  # noqa: F401
from tests.support.payloads import alert, payload

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
MAX_BODY_BYTES = 64 * 1024
MAX_ALERTS = 20
WEBHOOK = "/webhook/alertmanager"

# What a PayloadError may name: a top-level key, an alert, or a field of one; map entries
# carry their (arbitrary) key after a dot.
FIELD = re.compile(
    r"(body|version|alerts|truncatedAlerts|status|groupKey|receiver|externalURL"
    r"|(groupLabels|commonLabels|commonAnnotations)(\..*)?"
    r"|alerts\[\d+\](\.(status|startsAt|endsAt|fingerprint|generatorURL"
    r"|(labels|annotations)(\..*)?))?)",
    re.DOTALL,
)

# -- strategies --------------------------------------------------------------------------------

# Text as JSON can carry it: any code point, lone surrogates and NUL included (`\ud800`,
# `\u0000`), mixed with the characters label values usually have.
HOSTILE_CHARS = ["\x00", "\ud800", "\udfff", "\ufeff", "\u202e", "\n", '"', "\\", "é", "🔥"]
hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(codec=None, exclude_categories=()),
        st.sampled_from(HOSTILE_CHARS),
        st.sampled_from(string.ascii_letters + string.digits + "-_."),
    ),
    max_size=40,
)
# Values that stress a database column: a hostile character inside ordinary text (a plain
# draw of `hostile_text` rarely contains one), or more characters than a column is wide.
column_text = st.one_of(
    hostile_text,
    st.builds(
        lambda head, char, tail: head + char + tail,
        hostile_text,
        st.sampled_from(HOSTILE_CHARS),
        hostile_text,
    ),
    st.text(min_size=250, max_size=300),
)
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(hostile_text, children, max_size=5)
    ),
    max_leaves=25,
)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """RFC 3339 as Go writes it, anywhere in years 1..9999, any offset, up to ns digits."""
    when = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
    minutes = draw(st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59))
    digits = draw(st.sampled_from(["", ".5", ".123456", ".123456789"]))
    offset = "Z" if minutes == 0 and draw(st.booleans()) else None
    if offset is None:
        sign = "-" if minutes < 0 else "+"
        offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}T"
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}{digits}{offset}"
    )


time_values = st.one_of(timestamps(), st.just("0001-01-01T00:00:00Z"), json_values)
label_maps = st.one_of(
    st.dictionaries(hostile_text, hostile_text, max_size=6),
    st.dictionaries(hostile_text, json_values, max_size=3),
    json_values,
)


_ABSENT = object()


def _present(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not _ABSENT}


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The value, or the key left out."""
    return st.one_of(st.just(_ABSENT), strategy)


# Valid in shape, hostile in content: these get past the parser and reach the database.
valid_alerts = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved"]),
        "labels": st.fixed_dictionaries(
            {
                "alertname": column_text,
                "severity": st.one_of(st.sampled_from(["critical", "warning"]), column_text),
            },
            optional={"node": column_text, "gpu": column_text, "instance": column_text},
        ).flatmap(
            lambda fixed: st.dictionaries(hostile_text, hostile_text, max_size=3).map(
                lambda extra: {**extra, **fixed}
            )
        ),
        "startsAt": timestamps(),
    },
    optional={
        "annotations": st.dictionaries(hostile_text, hostile_text, max_size=3),
        "endsAt": st.one_of(st.just("0001-01-01T00:00:00Z"), timestamps()),
        "generatorURL": hostile_text,
        "fingerprint": column_text,
    },
)
valid_payloads = st.lists(valid_alerts, min_size=1, max_size=4).map(lambda alerts: payload(*alerts))

alerts_ish = st.fixed_dictionaries(
    {
        "status": maybe(st.one_of(st.sampled_from(["firing", "resolved"]), json_values)),
        "labels": maybe(
            st.one_of(
                st.builds(
                    lambda extra, name: {"alertname": name, "severity": "critical", **extra},
                    st.dictionaries(hostile_text, hostile_text, max_size=4),
                    hostile_text,
                ),
                label_maps,
            )
        ),
        "annotations": maybe(label_maps),
        "startsAt": maybe(time_values),
        "endsAt": maybe(time_values),
        "generatorURL": maybe(st.one_of(hostile_text, json_values)),
        "fingerprint": maybe(st.one_of(hostile_text, json_values)),
    }
).map(_present)

payloads_ish = st.fixed_dictionaries(
    {
        "version": maybe(st.one_of(st.just("4"), json_values)),
        "status": maybe(st.one_of(st.sampled_from(["firing", "resolved"]), json_values)),
        "receiver": maybe(st.one_of(hostile_text, json_values)),
        "groupKey": maybe(st.one_of(hostile_text, json_values)),
        "groupLabels": maybe(label_maps),
        "commonLabels": maybe(label_maps),
        "commonAnnotations": maybe(label_maps),
        "externalURL": maybe(st.one_of(hostile_text, json_values)),
        "truncatedAlerts": maybe(st.one_of(st.integers(-5, 10**20), json_values)),
        "alerts": maybe(
            st.one_of(
                st.lists(st.one_of(valid_alerts, alerts_ish), max_size=4),
                # Over the per-post limit.
                alerts_ish.map(lambda a: [a] * (MAX_ALERTS + 1)),
                json_values,
            )
        ),
    }
).map(_present)


# -- the parser --------------------------------------------------------------------------------


def check_parse(value: Any) -> None:
    """A WebhookPayload that keeps the parser's promises, or a PayloadError naming a field.

    Any other exception (OverflowError, TypeError, ...) escapes and fails the test.
    """
    try:
        parsed = parse_payload(value, max_alerts=MAX_ALERTS)
    except PayloadError as exc:
        assert FIELD.fullmatch(exc.field), f"names no field of the payload: {exc.field!r}"
        return
    assert isinstance(parsed, WebhookPayload)
    assert len(parsed.alerts) <= MAX_ALERTS
    for a in parsed.alerts:
        assert a.status in ("firing", "resolved")
        assert a.labels and a.fingerprint
        assert a.starts_at.tzinfo is not None and a.starts_at.utcoffset() == timedelta(0)
        assert a.ends_at is None or a.ends_at.utcoffset() == timedelta(0)


@FUZZ
@given(json_values)
def test_parser_turns_any_json_value_into_a_payload_or_a_named_field_error(value: Any) -> None:
    check_parse(value)


@FUZZ
@given(st.one_of(valid_payloads, payloads_ish))
def test_parser_turns_any_near_valid_payload_into_a_payload_or_a_named_field_error(
    value: dict[str, Any],
) -> None:
    check_parse(value)


@pytest.mark.parametrize(
    "starts_at",
    [
        "9999-12-31T23:59:59-23:59",  # in UTC: year 10000
        "9999-12-31T22:00:00-05:00",
    ],
)
def test_a_timestamp_that_is_past_year_9999_in_utc_is_a_payload_error(starts_at: str) -> None:
    check_parse(payload(alert(starts_at=starts_at)))


# -- the webhook -------------------------------------------------------------------------------


@dataclass
class Webhook:
    app: Flask
    engine: Engine
    protected: dict[str, Any]  # the stored alert no input may change or lose

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()


def stored_state(engine: Engine, fingerprint: str) -> dict[str, Any]:
    """The alert row of `fingerprint` with its transitions and deliveries."""
    with engine.connect() as conn:
        row = conn.execute(
            select(AlertRow.__table__).where(AlertRow.fingerprint == fingerprint)
        ).one_or_none()
        if row is None:
            return {}
        alert_id = row.id
        transitions = conn.execute(
            select(TransitionRow.__table__).where(TransitionRow.alert_id == alert_id)
        ).all()
        deliveries = conn.execute(
            select(DeliveryRow.__table__).where(DeliveryRow.alert_id == alert_id)
        ).all()
    return {
        "alert": dict(row._mapping),
        "transitions": [dict(t._mapping) for t in transitions],
        "deliveries": [dict(d._mapping) for d in deliveries],
    }


PROTECTED = alert(node="dgx-spark-protected", fingerprint="fp-protected-by-the-fuzz-test")


def build_app(database_url: str, state: Path) -> tuple[Flask, Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    settings = load_settings(
        {
            "BRIDGE_STATE_DIR": str(state),
            "BRIDGE_DATABASE_URL": database_url,
            "BRIDGE_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
            "BRIDGE_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "BRIDGE_MAX_ALERTS_PER_PAYLOAD": str(MAX_ALERTS),
            "BRIDGE_PROMETHEUS_URL": f"http://127.0.0.1:{closed_port()}",
        }
    )
    # No worker runs: outbox rows stay pending, nothing is sent anywhere.
    app = create_app(settings, store=Store(engine))
    return app, engine


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    state = tmp_path_factory.mktemp("hostile")
    app, engine = build_app(f"sqlite:///{state}/bridge.db", state)
    response = post(app.test_client(), json.dumps(payload(PROTECTED)))
    assert response.status_code == 200, response.get_json()
    yield Webhook(app, engine, stored_state(engine, PROTECTED["fingerprint"]))
    engine.dispose()


def post(
    client: FlaskClient,
    body: bytes | str,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
    token: str | None = WEBHOOK_TOKEN,
) -> Any:
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    # What a broken client would put on the wire for a lone surrogate: invalid UTF-8 bytes.
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return client.post(WEBHOOK, data=data, content_type=content_type, headers=all_headers)


def assert_answer_within_contract(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.get_data()[:300])
    body = response.get_json(silent=True)
    assert isinstance(body, dict), response.get_data()[:300]
    if response.status_code == 200:
        assert set(body) >= {"received", "new", "duplicates", "resolved", "notifications"}
        return
    assert isinstance(body.get("error"), str), body
    if response.status_code == 400:
        detail = body["detail"]
        assert isinstance(detail, dict) and FIELD.fullmatch(detail["field"]), body


# Header values as HTTP carries them: latin-1, no line breaks.
header_values = st.text(
    alphabet=st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=40
)
header_names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,20}\Z").filter(
    lambda n: (
        n.lower()
        not in ("content-type", "content-length", "transfer-encoding", "host", "authorization")
    )
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=utf-16",
            "APPLICATION/JSON",
            "application/json;charset=latin-1",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "application/jsonx",
        ]
    ),
    st.none(),
    header_values,
)
bodies = st.one_of(
    valid_payloads.map(json.dumps),
    payloads_ish.map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=200),
    # Raw text as bytes; a lone surrogate becomes bytes that are not valid UTF-8.
    hostile_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
    payloads_ish.map(lambda p: json.dumps(p)[: len(json.dumps(p)) // 2]),  # cut short
    st.just("{" + " " * MAX_BODY_BYTES + "}"),  # over the size limit
)
# Mostly the right token, so that most bodies get past authentication.
tokens = st.one_of(st.just(WEBHOOK_TOKEN), st.just(WEBHOOK_TOKEN), st.none(), header_values)


def post_and_check(webhook: Webhook, body: str | bytes, *args: Any) -> None:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if raw.find(b"fp-protected") >= 0:
        return  # the same alert again may legitimately change it (a resolve)
    response = post(webhook.client, body, *args)
    assert_answer_within_contract(response)
    assert stored_state(webhook.engine, PROTECTED["fingerprint"]) == webhook.protected


@FUZZ
@given(
    body=bodies,
    content_type=content_types,
    headers=st.dictionaries(header_names, header_values, max_size=4),
    token=tokens,
)
def test_webhook_never_answers_5xx_to_any_request_and_never_loses_a_stored_alert(
    webhook: Webhook,
    body: str | bytes,
    content_type: str | None,
    headers: dict[str, str],
    token: str | None,
) -> None:
    post_and_check(webhook, body, content_type, headers, token)


@FUZZ
@given(st.one_of(valid_payloads, payloads_ish))
def test_webhook_stores_or_rejects_any_near_valid_payload_and_never_loses_a_stored_alert(
    webhook: Webhook, body: dict[str, Any]
) -> None:
    # Authenticated and labelled JSON: every example reaches the parser, most the database.
    post_and_check(webhook, json.dumps(body))


# -- what the fuzzers found, pinned ------------------------------------------------------------


def test_deeply_nested_json_is_a_400_not_a_500(webhook: Webhook) -> None:
    # Well within any body limit (the default is 5 MB); JSON decoding recurses per level.
    depth = 10_000
    response = post(webhook.client, "[" * depth + "]" * depth)
    assert_answer_within_contract(response)
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("startsAt", "9999-12-31T23:59:59-23:59", id="utc-year-10000"),
        # JSON can carry a lone surrogate (`\ud800`); UTF-8 for the database cannot.
        pytest.param("node", "\ud800", id="lone-surrogate-in-node"),
        pytest.param("fingerprint", "fp-\udc00", id="lone-surrogate-in-fingerprint"),
    ],
)
def test_values_the_parser_accepts_never_make_the_webhook_fail(
    webhook: Webhook, field: str, value: str
) -> None:
    hostile = alert(node=f"dgx-spark-hostile-{field}")
    if field == "node":
        hostile["labels"]["node"] = value
    else:
        hostile[field] = value
    response = post(webhook.client, json.dumps(payload(hostile)))
    assert_answer_within_contract(response)


# PostgreSQL stores what SQLite shrugs off differently: text columns refuse NUL and have
# lengths. Such an alert can never be stored, so a 503 (Alertmanager retries forever, and the
# group's other alerts with it) is wrong; the answer is a 200 or a 400 naming the field.
POSTGRES_CASES = [
    pytest.param("node", "dgx\x00spark", id="nul-in-node"),
    pytest.param("severity", "crit\x00ical", id="nul-in-severity"),
    pytest.param("fingerprint", "fp\x00", id="nul-in-fingerprint"),
    # alerts.severity is VARCHAR(32), node and alertname VARCHAR(255); the parser allows
    # label values of 4096 characters.
    pytest.param("severity", "c" * 33, id="severity-of-33-chars"),
    pytest.param("node", "n" * 256, id="node-of-256-chars"),
    pytest.param("alertname", "A" * 256, id="alertname-of-256-chars"),
]


@pytest.fixture
def postgres_webhook(pg_url: str, tmp_path: Path) -> Iterator[FlaskClient]:
    app, engine = build_app(pg_url, tmp_path)
    yield app.test_client()
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(("field", "value"), POSTGRES_CASES)
def test_values_the_parser_accepts_are_never_a_503_on_postgresql(
    postgres_webhook: FlaskClient, field: str, value: str
) -> None:
    hostile = alert(fingerprint=f"fp-hostile-{field}-{len(value)}")
    if field == "fingerprint":
        hostile["fingerprint"] = value
    else:
        hostile["labels"][field] = value
    neighbour = alert(node="dgx-spark-neighbour", fingerprint="fp-neighbour")
    response = post(postgres_webhook, json.dumps(payload(hostile, neighbour)))
    assert_answer_within_contract(response)
