"""Console sessions through HTTP on both databases: they end 12 h after sign-in whatever
the page does, signing out revokes them (a copied cookie stops working on every replica),
and failed sign-ins back off per client with a bounded number of log lines."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from werkzeug.test import TestResponse

from bridge.console.access import SESSION_COOKIE
from bridge.settings import Settings, load_settings
from tests.integration.test_console import TOKEN, make, sign_in
from tests.support.clock import Clock

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
WRONG = TOKEN + "-wrong"


def signed_in(client: FlaskClient) -> bool:
    return "Sign out" in client.get("/windows").text


def copy_session(source: FlaskClient, app: Flask) -> FlaskClient:
    """Another browser (or an attacker) holding the same cookie."""
    cookie = source.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    other = app.test_client()
    other.set_cookie(SESSION_COOKIE, cookie.value)
    return other


# --- revocation -----------------------------------------------------------------------------


def test_signing_out_revokes_the_session_so_a_copied_cookie_stops_working(
    settings: Settings, engine: Engine
) -> None:
    one = make(settings, engine, console_read_auth=True)
    two = make(settings, engine, console_read_auth=True)  # another replica
    browser = one.test_client()
    csrf = sign_in(browser)
    copies = [copy_session(browser, one), copy_session(browser, two)]
    assert all(signed_in(c) for c in copies)
    assert all(c.get("/alerts").status_code == 200 for c in copies)
    assert browser.post("/logout", data={"csrf": csrf}).status_code == 302
    for copy in copies:
        assert not signed_in(copy)
        assert copy.get("/").status_code == 302  # to the sign-in page
        assert copy.get("/alerts").status_code == 401
        refused = copy.post("/windows", data={"csrf": csrf, "node": "n", "duration": "1h"})
        assert refused.status_code == 401


# --- absolute expiry ------------------------------------------------------------------------


def test_a_session_ends_12_hours_after_sign_in_however_often_the_page_refreshes(
    settings: Settings, engine: Engine
) -> None:
    clock = Clock(START)
    app = make(settings, engine, clock, console_read_auth=True)
    browser = app.test_client()
    sign_in(browser)
    # The open tab asks for the page again and again (every 15 s; 15 min steps here).
    while clock.now < START.replace(hour=20, minute=45):
        clock.advance(minutes=15)
        assert browser.get("/").status_code == 200, clock.now
        assert browser.get("/alerts").status_code == 200, clock.now
    clock.advance(hours=1, seconds=1)  # 12 h and 1 s after signing in
    assert browser.get("/").status_code == 302
    assert browser.get("/alerts").status_code == 401
    assert not signed_in(browser)
    sign_in(browser)  # a new sign-in starts a new 12 h
    assert browser.get("/").status_code == 200


# --- failed sign-ins --------------------------------------------------------------------------


CLIENT = "192.0.2.7"


def login(client: FlaskClient, token: str, address: str = CLIENT) -> TestResponse:
    return client.post("/login", data={"token": token}, environ_base={"REMOTE_ADDR": address})


def attempt(client: FlaskClient, token: str, address: str = CLIENT) -> int:
    return login(client, token, address).status_code


def test_failed_sign_ins_back_off_per_client_even_for_the_right_token(
    settings: Settings, engine: Engine
) -> None:
    clock = Clock(START)
    app = make(settings, engine, clock)
    client = app.test_client()
    assert [attempt(client, WRONG) for _ in range(5)] == [403] * 5
    waits = []
    for _ in range(4):
        held = login(client, TOKEN)
        assert held.status_code == 429 and "Too many failed sign-ins" in held.text
        assert not signed_in(client)
        waits.append(int(held.headers["Retry-After"]))
        clock.advance(seconds=waits[-1])
        assert attempt(client, WRONG) == 403  # one more guess after each wait, no more
    assert waits == sorted(waits) and waits[-1] > waits[0]  # the wait grows
    # Another client is not held up by this one.
    assert attempt(app.test_client(), TOKEN, address="198.51.100.9") == 302
    clock.advance(seconds=int(login(client, TOKEN).headers["Retry-After"]))
    assert attempt(client, TOKEN) == 302  # after the wait the right token works
    assert attempt(client, WRONG) == 403  # and the success forgot the failures


PROXY = "172.30.95.10"


def via_proxy(client: FlaskClient, token: str, forwarded_for: str, peer: str = PROXY) -> int:
    """A sign-in as the shipped Caddy proxy passes it on: from the proxy's address, the
    client's in X-Forwarded-For."""
    return client.post(
        "/login",
        data={"token": token},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": peer},
    ).status_code


def test_behind_a_trusted_proxy_one_guessers_failures_do_not_hold_up_anyone_else(
    settings: Settings, engine: Engine
) -> None:
    trusted = load_settings({"BRIDGE_TRUSTED_PROXIES": PROXY}).trusted_proxies
    app = make(settings, engine, Clock(START), trusted_proxies=trusted)
    guesser, colleague = app.test_client(), app.test_client()
    assert [via_proxy(guesser, WRONG, "203.0.113.66") for _ in range(6)] == [403] * 5 + [429]
    # The guesser is held whatever it writes in its own X-Forwarded-For: the proxy
    # appends the address it saw, and that is the one believed.
    assert via_proxy(guesser, TOKEN, "198.51.100.9, 203.0.113.66") == 429
    # Everyone else signs in through the same proxy.
    assert via_proxy(colleague, TOKEN, "198.51.100.9") == 302
    assert signed_in(colleague) and not signed_in(guesser)


def test_a_forwarded_address_from_an_untrusted_peer_is_not_believed(
    settings: Settings, engine: Engine
) -> None:
    trusted = load_settings({"BRIDGE_TRUSTED_PROXIES": PROXY}).trusted_proxies
    app = make(settings, engine, Clock(START), trusted_proxies=trusted)
    client = app.test_client()
    # A guesser reaching the bridge directly cannot dodge its backoff by inventing a new
    # X-Forwarded-For for each try.
    codes = [via_proxy(client, WRONG, f"203.0.113.{i}", peer=CLIENT) for i in range(7)]
    assert codes == [403] * 5 + [429] * 2


def test_a_flood_of_failed_sign_ins_writes_one_warning_a_minute(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(START)
    app = make(settings, engine, clock)
    client = app.test_client()
    caplog.set_level(logging.INFO, logger="bridge.console")
    for i in range(200):  # many clients, so that the backoff does not stop them
        attempt(client, WRONG, address=f"10.0.{i // 250}.{i % 250}")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "sign-in refused" in warnings[0].getMessage()
    clock.advance(seconds=61)
    attempt(client, WRONG, address="10.9.9.9")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2
    assert "199 more" in warnings[1].getMessage()
    assert TOKEN not in caplog.text
