"""The web console in a real headless Chromium: what people see and click.

One bridge process (SQLite) serves every test of this module; each test uses alerts and
nodes of its own, so the order of the tests does not matter.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from bridge.console.access import SESSION_COOKIE
from bridge.notify.pagerduty_event import dedup_key
from tests.browser.conftest import API_TOKEN, DESKTOP, PHONE, Console, ConsoleErrors
from tests.support.payloads import alert, payload
from tests.support.procs import wait_until
from tests.support.stack_procs import am_silences

pytestmark = pytest.mark.slow
WAIT_S = 30.0
# Longer than the page's self-refresh interval (console.js REFRESH_MS).
REFRESH_WAIT_MS = 40_000
BAD_REQUEST_LOG = "Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"


def post_webhook(console: Console, *alerts: dict[str, Any]) -> None:
    response = requests.post(
        f"{console.url}/webhook/alertmanager", json=payload(*alerts), timeout=10
    )
    assert response.status_code == 200, response.text


def shoot(console: Console, page: Any, name: str) -> None:
    page.screenshot(path=str(console.screenshots / f"{name}.png"), full_page=True)


def sign_in(console: Console, page: Any) -> None:
    page.goto(f"{console.url}/login")
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{console.url}/")
    assert page.get_by_role("button", name="Sign out").is_visible()


def submit_window(console: Console, page: Any, **fields: str) -> None:
    """Sign in, fill the new-window form by its labels (Node is a picker), and submit it."""
    sign_in(console, page)
    page.goto(f"{console.url}/windows")
    for label, value in {**fields, "Your name": "ops"}.items():
        if label == "Node":
            page.get_by_label(label).select_option(value)
        else:
            page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Create window").click()


def delivery_of(console: Console, fingerprint: str, channel: str) -> dict[str, Any] | None:
    alerts = requests.get(f"{console.url}/alerts", timeout=10).json()["alerts"]
    for found in alerts:
        if found["fingerprint"] == fingerprint:
            for delivery in found["deliveries"]:
                if delivery["channel"] == channel and delivery["action"] == "trigger":
                    return dict(delivery)
    return None


def test_overview_shows_a_webhook_alert_on_its_node_card_and_refreshes_itself(
    console: Console, page: Any
) -> None:
    post_webhook(console, alert("GPUTemperatureCritical", node="spark-a1", gpu="0"))
    page.goto(console.url + "/")
    card = page.locator('article[data-node="spark-a1"]')
    assert "GPUTemperatureCritical" in card.inner_text()
    assert "87 °C (threshold 85 °C)" in card.inner_text()
    assert "1 critical" in card.inner_text()
    # The bridge's own health: the real Alertmanager answers, Prometheus (a closed port) not.
    health = page.locator("dl.health")
    assert "ready" in health.locator(".health-ok", has_text="Alertmanager").inner_text()
    assert "unreachable" in health.locator(".health-bad", has_text="Prometheus").inner_text()
    # The list refreshes itself: an alert posted now appears without a reload.
    post_webhook(console, alert("HighMemoryUsage", node="spark-a2", gpu=None, severity="warning"))
    page.wait_for_selector('article[data-node="spark-a2"]', timeout=REFRESH_WAIT_MS)
    assert "HighMemoryUsage" in page.locator('article[data-node="spark-a2"]').inner_text()
    shoot(console, page, "overview")
    page.set_viewport_size(PHONE)
    shoot(console, page, "overview-phone")
    page.get_by_role("link", name="GPUTemperatureCritical").first.click()
    page.wait_for_selector("h1")
    assert "Labels" in page.inner_text("main") and "spark-a1" in page.inner_text("main")
    shoot(console, page, "alert-phone")
    page.set_viewport_size(DESKTOP)
    shoot(console, page, "alert")


def test_a_dead_letter_is_retried_from_the_page_and_reaches_pagerduty_once(
    console: Console, page: Any
) -> None:
    fingerprint = "fp-dead-letter"
    console.pagerduty.fail_next(400, body={"status": "invalid event", "message": "Event invalid"})
    post_webhook(console, alert("GPUXIDError", node="spark-b1", fingerprint=fingerprint))
    dead = wait_until(
        lambda: (
            (d := delivery_of(console, fingerprint, "pagerduty")) and d["status"] == "dead" and d
        ),
        timeout=WAIT_S,
        what="the PagerDuty delivery to be a dead letter",
    )
    sign_in(console, page)
    page.goto(f"{console.url}/deliveries?status=dead&channel=pagerduty&node=spark-b1")
    row = page.locator(f"#delivery-{dead['id']}")
    assert "dead" in row.inner_text()
    shoot(console, page, "deliveries-dead")
    page.set_viewport_size(PHONE)
    shoot(console, page, "deliveries-dead-phone")
    page.set_viewport_size(DESKTOP)
    row.get_by_role("button", name=f"Retry delivery {dead['id']}").click()
    assert "is back in the outbox" in page.locator(".flash").inner_text()
    delivered = wait_until(
        lambda: (
            (d := delivery_of(console, fingerprint, "pagerduty"))
            and d["status"] == "delivered"
            and d
        ),
        timeout=WAIT_S,
        what="the retried delivery to reach PagerDuty",
    )
    sent = [e for e in console.pagerduty.triggers() if e["dedup_key"] == dedup_key(fingerprint)]
    assert len(sent) == 1, console.pagerduty.triggers()
    # Recorded as a new attempt after the one that died.
    assert [a["outcome"] for a in delivered["attempt_log"]] == ["dead", "delivered"]
    page.goto(f"{console.url}/alert/{fingerprint}")
    assert "delivered" in page.locator(f"#delivery-{dead['id']}").inner_text()
    shoot(console, page, "alert-retried")


def test_a_window_from_the_form_is_an_active_silence_in_alertmanager_until_expired(
    console: Console, page: Any
) -> None:
    post_webhook(console, alert("GPUTemperatureWarning", node="spark-c1", severity="warning"))
    submit_window(
        console, page, Node="spark-c1", Duration="2h", Comment="driver upgrade on spark-c1"
    )
    active = page.locator("section", has=page.locator("#active-title"))
    assert "driver upgrade on spark-c1" in active.inner_text()
    shoot(console, page, "windows")

    def silence() -> dict[str, Any] | None:
        for s in am_silences(console.alertmanager.url):
            if {"name": "node", "value": "spark-c1", "isRegex": False, "isEqual": True} in s[
                "matchers"
            ]:
                return s
        return None

    found = wait_until(
        lambda: (s := silence()) and s["status"]["state"] == "active" and s,
        timeout=WAIT_S,
        what="an active silence for spark-c1 in Alertmanager",
    )
    assert found["comment"].startswith("driver upgrade on spark-c1")
    item = active.locator("li", has_text="driver upgrade on spark-c1")
    item.get_by_role("button", name=re.compile(r"^Expire window")).click()
    assert "expired" in page.locator(".flash").inner_text()
    wait_until(
        lambda: (s := silence()) and s["status"]["state"] == "expired",
        timeout=WAIT_S,
        what="the silence to be expired in Alertmanager",
    )


def test_window_validation_errors_appear_beside_the_field(
    console: Console, page: Any, console_errors: ConsoleErrors
) -> None:
    # The refused form comes back as 400, which Chromium logs; that one error is expected.
    with page.expect_console_message(lambda m: m.type == "error") as logged:
        submit_window(console, page, Matchers='alertname=~"GPU.*"', Duration="9d", Comment="long")
    assert logged.value.text == BAD_REQUEST_LOG
    page.locator("#duration-error").wait_for()
    console_errors.messages.remove(BAD_REQUEST_LOG)
    error = page.locator("#duration-error")  # beside the field that was too long
    assert "window longer than the maximum" in error.inner_text()
    assert page.get_by_label("Duration").get_attribute("aria-describedby") == "duration-error"
    # What was typed stays in the form.
    assert page.get_by_label("Matchers").input_value() == 'alertname=~"GPU.*"'
    shoot(console, page, "windows-validation")


def test_script_in_labels_and_annotations_is_shown_as_text_and_never_runs(
    console: Console, page: Any
) -> None:
    script = "<script>window.__owned = 1</script>"
    img = '<img src=x onerror="window.__owned = 2">'
    post_webhook(
        console,
        alert(
            "GPUTemperatureCritical",
            node="spark-d1" + img,
            fingerprint="fp-hostile",
            annotations={"summary": script, "description": img, "runbook_url": "javascript:1"},
            team=script,
        ),
    )
    for path in ("/", "/alert/fp-hostile", "/deliveries"):
        page.goto(console.url + path)
        assert page.evaluate("window.__owned") is None, path
        assert page.locator("main img").count() == 0, path
    assert script in page.inner_text("main") or img in page.inner_text("main")
    page.goto(console.url + "/alert/fp-hostile")
    assert script in page.inner_text("main") and img in page.inner_text("main")
    assert page.locator('a[href^="javascript"]').count() == 0
    shoot(console, page, "alert-hostile")


def test_every_page_answers_with_a_content_security_policy(console: Console, page: Any) -> None:
    for path in ("/", "/deliveries", "/windows", "/login"):
        response = page.goto(console.url + path)
        assert "default-src 'self'" in response.headers["content-security-policy"], path
    shoot(console, page, "login")


def test_signing_in_from_a_link_with_a_tab_in_next_stays_on_the_bridge(
    console: Console, page: Any
) -> None:
    # Chromium drops the tab and would read "//evil.example/" as another host.
    page.goto(f"{console.url}/login?next=/%09/evil.example/")
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert urlsplit(page.url).netloc == urlsplit(console.url).netloc, page.url
    assert page.get_by_role("button", name="Sign out").is_visible()


def test_signing_out_in_the_browser_ends_a_copy_of_its_session_cookie(
    console: Console, page: Any, browser_context: Any
) -> None:
    sign_in(console, page)
    (cookie,) = [c for c in browser_context.cookies() if c["name"] == SESSION_COOKIE]
    copied = {SESSION_COOKIE: cookie["value"]}

    def copy_signed_in() -> bool:
        answer = requests.get(f"{console.url}/windows", cookies=copied, timeout=10)
        return "Sign out" in answer.text

    assert copy_signed_in()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert page.get_by_role("link", name="Sign in").first.is_visible()
    assert not copy_signed_in()
