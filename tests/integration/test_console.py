"""The web console through HTTP (Flask's test client) on both databases: what the pages
show, who may write, the dead-letter Retry, and the security headers."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from bridge.app import create_app
from bridge.clock import utcnow
from bridge.console.access import SESSION_COOKIE
from bridge.db.engine import make_engine
from bridge.db.models import AttemptRow, DeliveryRow, WindowRow
from bridge.settings import Settings
from bridge.store import Store
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.integration.test_digest import API_TOKEN as DIGEST_API_TOKEN
from tests.integration.test_digest import DIGEST_CHANNEL, dead_summary
from tests.support.bridge_app import ctx, deliver_until_settled, post_alerts
from tests.support.clock import Clock
from tests.support.payloads import alert, payload

TOKEN = "console-token-for-tests-0123456789abcdef"
UNREACHABLE = "http://127.0.0.1:1"
HOSTILE = '<script>document.title="owned"</script><img src=x onerror=alert(1)>'


def make(settings: Settings, engine: Engine, clock: Clock | None = None, **overrides: Any) -> Flask:
    changes: dict[str, Any] = {
        "api_token": TOKEN,
        "prometheus_url": UNREACHABLE,
        "alertmanager_urls": (UNREACHABLE,),
    }
    configured = replace(settings, **(changes | overrides))
    app = create_app(configured, store=Store(engine), clock=clock or utcnow)
    app.testing = True
    return app


def sign_in(client: FlaskClient, token: str = TOKEN) -> str:
    """Start a session with the API token; return the CSRF token its forms carry."""
    response = client.post("/login", data={"token": token, "next": "/windows"})
    assert response.status_code == 302, response.text
    page = client.get("/windows").text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "a signed-in page carries the CSRF token"
    return found.group(1)


def count(engine: Engine, model: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def dead_letter(app: Flask, pagerduty: FakePagerDuty) -> int:
    """A critical alert whose page PagerDuty refuses for good (400): one dead delivery."""
    pagerduty.fail_next(400, body={"status": "invalid event", "message": "Event object is invalid"})
    post_alerts(app, payload(alert("GPUTemperatureCritical", node="dgx-spark-01")))
    deliver_until_settled(app)
    with ctx(app).store.engine.connect() as conn:
        dead = conn.execute(
            select(DeliveryRow.id).where(
                DeliveryRow.status == "dead", DeliveryRow.channel == "pagerduty"
            )
        ).scalar_one()
    return int(dead)


# --- reads ----------------------------------------------------------------------------------


def test_overview_shows_a_posted_alert_on_its_node_card(settings: Settings, engine: Engine) -> None:
    app = make(settings, engine)
    post_alerts(
        app,
        payload(
            alert("GPUTemperatureCritical", node="dgx-spark-02", gpu="1"),
            alert("HighCPUUsage", node="dgx-spark-01", gpu=None, severity="warning"),
        ),
    )
    page = app.test_client().get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    cards = re.findall(r'<article class="card sev-(\w+)" data-node="([^"]+)"', page.text)
    assert cards == [("critical", "dgx-spark-02"), ("warning", "dgx-spark-01")]
    card_02 = page.text.split('data-node="dgx-spark-02"')[1].split("</article>")[0]
    assert "GPUTemperatureCritical" in card_02 and "GPU 1" in card_02
    assert "87 °C (threshold 85 °C)" in card_02
    assert "2 alerts firing on 2 nodes" in page.text


def test_with_hundreds_of_nodes_firing_each_card_lists_its_worst_alert_and_links_the_rest(
    settings: Settings, engine: Engine
) -> None:
    app = make(settings, engine)
    # 300 nodes, three alerts each; one name has "&", "#", "/" and a space, which its
    # links must carry intact.
    nodes = [f"dgx-spark-{n:03d}" for n in range(299)] + ["rack 7/#2 & co"]
    alerts = [
        alert(name, node=node, severity=severity, fingerprint=f"{n}-{name}")
        for n, node in enumerate(nodes)
        for name, severity in (
            ("HighCPUUsage", "warning"),
            ("GPUTemperatureCritical", "critical"),
            ("GPUMemoryHigh", "warning"),
        )
    ]
    post_alerts(app, payload(*alerts))
    client = app.test_client()
    page = client.get("/").text
    assert "900 alerts firing on 300 nodes" in page
    cards = page.split('<article class="card')[1:]
    assert len(cards) == 300
    for card in cards:
        # One line per card, the critical one; the warnings counted and one click away.
        assert card.count('class="alertname"') == 1 and "GPUTemperatureCritical" in card
        assert "1 critical" in card and "2 warning" in card and "and 2 more" in card
    odd = next(c for c in cards if "rack 7/#2 &amp; co" in c)
    (more,) = re.findall(r'<p class="more"><a href="([^"]+)"', odd)
    assert more == "/?node=rack%207%2F%232%20%26%20co"
    node_page = client.get(more).text
    assert "3 alerts firing on 1 node" in node_page
    assert node_page.count('class="alertname"') == 3  # the node's own page lists them all
    (line,) = re.findall(r'class="alertname" href="([^"]+)"', odd)
    assert client.get(line).status_code == 200


def test_an_empty_bridge_says_so_instead_of_showing_nothing(
    settings: Settings, engine: Engine
) -> None:
    page = make(settings, engine).test_client().get("/").text
    assert "No alerts received yet" in page
    assert "None active or coming" in page


def test_overview_says_the_database_is_unreachable_instead_of_failing(
    settings: Settings, tmp_path: Path
) -> None:
    unmigrated = make_engine(f"sqlite:///{tmp_path}/empty.db")  # every query fails
    page = make(settings, unmigrated).test_client().get("/")
    assert page.status_code == 200
    database = re.search(r'<div class="health-(\w+)">\s*<dt>Database</dt>\s*<dd>([^<]*)', page.text)
    assert database and database.groups() == ("bad", "unreachable: pages show nothing new")


def test_alert_page_shows_labels_annotations_deliveries_and_transitions(
    settings: Settings, engine: Engine
) -> None:
    app = make(settings, engine)
    post_alerts(app, payload(alert("GPUTemperatureCritical", fingerprint="abc123")))
    deliver_until_settled(app)
    page = app.test_client().get("/alert/abc123")
    assert page.status_code == 200
    for text in ("dgx-spark-01", "87 °C", "pagerduty trigger", "dry_run", "new firing"):
        assert text in page.text, text
    assert app.test_client().get("/alert/nope").status_code == 404


def test_deliveries_page_filters_by_status_channel_and_node(
    settings: Settings, engine: Engine
) -> None:
    app = make(settings, engine)
    post_alerts(
        app,
        payload(
            alert("GPUTemperatureCritical", node="dgx-spark-01"),
            alert("GPUTemperatureCritical", node="dgx-spark-02"),
        ),
    )
    client = app.test_client()
    rows = re.compile(r'<tr class="status-(\w+)" id="delivery-\d+">')
    assert len(rows.findall(client.get("/deliveries").text)) == 4  # 2 alerts x 2 channels
    only_02 = client.get("/deliveries?node=dgx-spark-02&channel=slack").text
    assert rows.findall(only_02) == ["pending"]
    assert rows.findall(client.get("/deliveries?status=dead").text) == []
    assert "No dead letters" in client.get("/deliveries?status=dead").text


# --- the dead-letter Retry ------------------------------------------------------------------


def test_a_dead_letter_is_retried_once_even_when_two_replicas_are_asked(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    one, two = make(live_settings, engine), make(live_settings, engine)
    dead = dead_letter(one, pagerduty)
    attempts_before = count(engine, AttemptRow, AttemptRow.delivery_id == dead)
    pagerduty.reset()
    clients = [one.test_client(), two.test_client()]
    tokens = [sign_in(c) for c in clients]
    answers: list[str] = []
    start = threading.Barrier(len(clients))

    def ask(client: FlaskClient, csrf: str) -> None:
        start.wait(10)  # both replicas are asked at the same moment
        answers.append(
            client.post(
                f"/deliveries/{dead}/retry", data={"csrf": csrf}, follow_redirects=True
            ).text
        )

    askers = [
        threading.Thread(target=ask, args=(c, t)) for c, t in zip(clients, tokens, strict=True)
    ]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(60)
    assert len(answers) == 2
    assert sum("back in the outbox" in a for a in answers) == 1
    assert sum("not a dead letter" in a for a in answers) == 1
    deliver_until_settled(one)
    deliver_until_settled(two)
    assert len(pagerduty.triggers()) == 1
    assert count(engine, AttemptRow, AttemptRow.delivery_id == dead) == attempts_before + 1
    assert count(engine, DeliveryRow, DeliveryRow.id == dead, DeliveryRow.status == "delivered")


def test_a_dead_channel_summary_is_listed_with_the_dead_letters_and_can_be_retried(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app, _clock, row = dead_summary(live_settings, engine, slack)
    client = app.test_client()
    # The overview counts it; the dead-letter list must show it, or nobody can act on it.
    assert "1 to look at" in client.get("/").text
    listed = client.get("/deliveries?status=dead").text
    line = re.search(rf'<tr class="status-dead" id="delivery-{row["id"]}">(.*?)</tr>', listed, re.S)
    assert line, listed
    assert "channel summary" in line.group(1) and "not_in_channel" in line.group(1)
    csrf = sign_in(client, DIGEST_API_TOKEN)
    retried = client.post(f"/deliveries/{row['id']}/retry", data={"csrf": csrf})
    assert retried.status_code == 302
    deliver_until_settled(app)
    assert len(slack.top_level(DIGEST_CHANNEL)) == 1


# --- who may write ----------------------------------------------------------------------------


def _writes(dead: int, window_id: str, csrf: str | None) -> list[tuple[str, dict[str, str]]]:
    extra = {"csrf": csrf} if csrf is not None else {}
    return [
        (f"/deliveries/{dead}/retry", dict(extra)),
        (
            "/windows",
            {**extra, "node": "dgx-spark-01", "duration": "2h", "comment": "x", "created_by": "y"},
        ),
        (f"/windows/{window_id}/expire", dict(extra)),
    ]


def _a_window(app: Flask) -> str:
    client = app.test_client()
    csrf = sign_in(client)
    client.post(
        "/windows",
        data={"csrf": csrf, "node": "dgx-spark-09", "duration": "1h", "comment": "c"}
        | {"created_by": "ops"},
    )
    with ctx(app).store.engine.connect() as conn:
        return str(conn.execute(select(WindowRow.id)).scalar_one())


def _state(engine: Engine) -> tuple[int, int, int]:
    return (
        count(engine, DeliveryRow, DeliveryRow.status == "dead"),
        count(engine, WindowRow),
        count(engine, WindowRow, WindowRow.expired_at.is_not(None)),
    )


@pytest.fixture
def targets(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> tuple[Flask, int, str]:
    """A bridge with a dead letter and an active window: what a refused write would change."""
    app = make(live_settings, engine)
    return app, dead_letter(app, pagerduty), _a_window(app)


def test_writes_without_a_session_are_refused_and_change_nothing(
    targets: tuple[Flask, int, str], engine: Engine
) -> None:
    app, dead, window_id = targets
    before = _state(engine)
    client = app.test_client()  # no session
    for path, form in _writes(dead, window_id, csrf="guessed"):
        response = client.post(path, data=form)
        assert response.status_code == 401, path
        assert "Sign in first" in response.text
    assert _state(engine) == before == (1, 1, 0)


def test_writes_with_a_wrong_or_missing_csrf_token_are_refused_and_change_nothing(
    targets: tuple[Flask, int, str], engine: Engine
) -> None:
    app, dead, window_id = targets
    before = _state(engine)
    client = app.test_client()
    real = sign_in(client)
    for csrf in ("wrong-" + real, "", None):
        for path, form in _writes(dead, window_id, csrf):
            response = client.post(path, data=form)
            assert response.status_code == 403, (path, csrf)
            assert "did not come from your current session" in response.text
    assert _state(engine) == before


def test_writes_are_refused_with_advice_when_no_api_token_is_configured(
    settings: Settings, engine: Engine
) -> None:
    app = make(settings, engine, api_token=None)
    client = app.test_client()
    refused = client.post("/windows", data={"node": "n", "duration": "1h", "comment": "c"})
    assert refused.status_code == 403 and "BRIDGE_API_TOKEN" in refused.text
    assert client.post("/login", data={"token": ""}).status_code == 403
    assert "Writes are turned off" in client.get("/windows").text
    assert count(engine, WindowRow) == 0


def test_a_wrong_token_starts_no_session_and_is_never_logged(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    client = make(settings, engine).test_client()
    answer = client.post("/login", data={"token": TOKEN + "x"})
    assert answer.status_code == 403 and "not the API token" in answer.text
    assert "sign-in refused" in caplog.text and TOKEN not in caplog.text
    assert "</a> to create or expire windows" in client.get("/windows").text


def test_reads_need_the_session_when_console_read_auth_is_on(
    settings: Settings, engine: Engine
) -> None:
    app = make(settings, engine, console_read_auth=True)
    client = app.test_client()
    for path in ("/", "/deliveries", "/windows", "/alert/x"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=")
    assert client.get("/login").status_code == 200
    assert client.get("/console/static/console.css").status_code == 200
    sign_in(client)
    assert client.get("/").status_code == 200


def test_session_cookie_is_httponly_samesite_strict_and_secure_behind_https(
    settings: Settings, engine: Engine
) -> None:
    plain = make(settings, engine).test_client().post("/login", data={"token": TOKEN})
    cookie = plain.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    tls = make(settings, engine, public_url="https://bridge.example.org")
    cookie = tls.test_client().post("/login", data={"token": TOKEN}).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
    assert TOKEN not in cookie


def test_a_session_started_on_one_replica_is_valid_on_another_with_the_same_token(
    settings: Settings, engine: Engine
) -> None:
    first = make(settings, engine).test_client()
    sign_in(first)
    cookie = first.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    second = make(settings, engine).test_client()
    second.set_cookie(SESSION_COOKIE, cookie.value)
    assert "Sign out" in second.get("/windows").text
    other_token = make(
        settings, engine, api_token="another-token-0123456789abcdef-tests"
    ).test_client()
    other_token.set_cookie(SESSION_COOKIE, cookie.value)
    assert "Sign out" not in other_token.get("/windows").text


def test_login_redirects_only_to_paths_on_this_site(settings: Settings, engine: Engine) -> None:
    client = make(settings, engine).test_client()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        answer = client.post("/login", data={"token": TOKEN, "next": target})
        assert answer.headers["Location"] == "/", target


# Browsers drop tabs and newlines anywhere in a URL and read "\\" as "/" (WHATWG URL).
HOSTILE_NEXT = ["/\t/evil.example/", "/\n/evil.example/", "/\\\t/evil.example", "\t//evil.example/"]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_login_never_redirects_off_site_through_control_characters(
    settings: Settings, engine: Engine, target: str
) -> None:
    client = make(settings, engine).test_client()
    for answer in (
        client.post("/login", data={"token": TOKEN, "next": target}),
        client.post("/login?" + urlencode({"next": target}), data={"token": TOKEN}),
    ):
        assert answer.status_code == 302
        location = answer.headers["Location"]
        browser_sees = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
        assert urlsplit(urljoin("http://bridge.test/login", browser_sees)).netloc == "bridge.test"
        assert location.startswith("/") and not browser_sees.startswith("//"), location


def test_a_carriage_return_in_next_is_a_redirect_home_not_a_server_error(
    settings: Settings, engine: Engine
) -> None:
    client = make(settings, engine).test_client()
    answer = client.post("/login", data={"token": TOKEN, "next": "/\r/x"})
    assert answer.status_code == 302
    assert not re.search(r"[\x00-\x1f\\\\]", answer.headers["Location"])


def test_login_keeps_the_path_and_query_of_a_page_on_this_site(
    settings: Settings, engine: Engine
) -> None:
    client = make(settings, engine).test_client()
    target = "/deliveries?status=dead&node=dgx-spark-01"
    answer = client.post("/login", data={"token": TOKEN, "next": target + "#frag"})
    assert answer.headers["Location"] == target


# --- escaping and headers ---------------------------------------------------------------------


def test_html_in_labels_and_annotations_is_escaped_on_every_page(
    settings: Settings, engine: Engine
) -> None:
    app = make(settings, engine)
    hostile = alert(
        "GPUTemperatureCritical",
        node=HOSTILE,
        fingerprint="hostile",
        annotations={"summary": HOSTILE, "runbook_url": "javascript:alert(1)"},
        team=HOSTILE,
    )
    post_alerts(app, payload(hostile))
    client = app.test_client()
    for path in ("/", "/alert/hostile", "/deliveries", "/windows", "/?node=" + HOSTILE):
        page = client.get(path).text
        assert "<script>document" not in page and "<img src=x" not in page, path
    alert_page = client.get("/alert/hostile").text
    assert "&lt;script&gt;document.title=" in alert_page
    assert 'href="javascript:' not in alert_page and "javascript:alert(1)" in alert_page


def test_every_console_response_carries_a_strict_content_security_policy(
    settings: Settings, engine: Engine
) -> None:
    client = make(settings, engine).test_client()
    pages = ("/", "/deliveries", "/windows", "/login", "/alert/x", "/console/static/console.js")
    for path in pages:
        policy = client.get(path).headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in policy, path
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
        assert "frame-ancestors 'none'" in policy, path


def test_pages_carry_no_inline_script_or_style(settings: Settings, engine: Engine) -> None:
    app = make(settings, engine)
    post_alerts(app, payload(alert(fingerprint="fp1")))
    client = app.test_client()
    sign_in(client)
    for path in ("/", "/deliveries", "/windows", "/login", "/alert/fp1"):
        page = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
        assert "<style" not in page and " style=" not in page and " on" + "click=" not in page


# --- windows --------------------------------------------------------------------------------


WINDOW_ERRORS = [
    ({"node": "", "matchers": ""}, "matchers", "give at least one matcher, or `node`"),
    ({"duration": "9d"}, "duration", "window longer than the maximum"),
    ({"node": "dgx\x1b[2J"}, "node", "control character U+001B"),
    ({"matchers": 'alertname=~"(?=GPU)"'}, "matchers", "invalid regular expression"),
    ({"matchers": 'alertname!=""', "node": ""}, "matchers", "match every alert"),
    ({"cron": "* * * * *", "duration": "1d"}, "duration", "would overlap"),
    ({"cron": "0 0 30 2 *", "duration": "1h"}, "cron", "never fires"),
    ({"duration": "soon"}, "duration", "duration"),
    ({"comment": ""}, "comment", "comment is required"),
    ({"matchers": "alertname=~GPU("}, "matchers", "invalid regular expression"),
    ({"matchers": "not a matcher"}, "matchers", "cannot read"),
    ({"cron": "61 * * * *"}, "cron", "recurrence.cron"),
    ({"created_by": ""}, "created_by", "createdBy is required"),
]


@pytest.mark.parametrize(("change", "field", "message"), WINDOW_ERRORS)
def test_window_form_errors_are_shown_beside_their_field(
    settings: Settings, engine: Engine, change: dict[str, str], field: str, message: str
) -> None:
    client = make(settings, engine).test_client()
    csrf = sign_in(client)
    form = {"node": "dgx-spark-01", "duration": "2h", "comment": "upgrade", "created_by": "ops"}
    answer = client.post("/windows", data={**form, **change, "csrf": csrf})
    assert answer.status_code == 400
    beside = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', answer.text)
    assert beside, answer.text
    assert message in beside.group(1).replace("&#96;", "`")
    assert count(engine, WindowRow) == 0


def test_window_created_from_the_form_is_listed_active_and_can_be_expired(
    settings: Settings, engine: Engine
) -> None:
    client = make(settings, engine).test_client()
    csrf = sign_in(client)
    form = {"node": "dgx-spark-02", "matchers": 'alertname=~"GPU.*"', "duration": "2h"}
    created = client.post(
        "/windows",
        data=form | {"comment": "driver upgrade", "created_by": "ops", "csrf": csrf},
        follow_redirects=True,
    )
    assert created.status_code == 200
    active = created.text.split('id="active-title"')[1].split("</section>")[0]
    assert "driver upgrade" in active and "node=&#34;dgx-spark-02&#34;" in active
    window_id = re.search(r'data-window="([0-9a-f]+)"', active)
    assert window_id
    expired = client.post(
        f"/windows/{window_id.group(1)}/expire", data={"csrf": csrf}, follow_redirects=True
    )
    assert "expired" in expired.text
    assert count(engine, WindowRow, WindowRow.expired_at.is_not(None)) == 1
