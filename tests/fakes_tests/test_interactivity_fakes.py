"""The replicas' interactivity side: clicks as Slack builds them, response_url answers,
interactive Block Kit limits, and requests signed as Slack and PagerDuty sign them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from tests.fakes.signing import (
    pagerduty_incident_event,
    pagerduty_request,
    slack_request,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA

BUTTON = {
    "type": "button",
    "action_id": "ack",
    "text": {"type": "plain_text", "text": "Acknowledge"},
    "value": "ack:1.2",
}
MENU = {
    "type": "static_select",
    "action_id": "silence",
    "placeholder": {"type": "plain_text", "text": "Silence…"},
    "options": [
        {"text": {"type": "plain_text", "text": "1 h"}, "value": "silence-1h:1.2"},
        {"text": {"type": "plain_text", "text": "4 h"}, "value": "silence-4h:1.2"},
    ],
}


def post(fake: FakeSlack, ca: TestCA, *elements: dict[str, Any]) -> str:
    client = WebClient(token=fake.token, base_url=fake.api_url, ssl=ca.client_ssl_context())
    blocks = [{"type": "actions", "block_id": "acts", "elements": list(elements)}]
    return str(client.chat_postMessage(channel="#alerts", text="x", blocks=blocks)["ts"])


def test_a_button_click_payload_carries_the_buttons_value_user_and_response_url(
    fake_slack: FakeSlack, fake_ca: TestCA
) -> None:
    ts = post(fake_slack, fake_ca, BUTTON, MENU)
    payload = fake_slack.click_payload(ts, "ack", user_id="U0ADA", user_name="ada")
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U0ADA" and payload["container"]["message_ts"] == ts
    (action,) = payload["actions"]
    assert (action["type"], action["value"], action["block_id"]) == ("button", "ack:1.2", "acts")
    assert payload["response_url"].startswith(fake_slack.url + "/actions/")
    assert payload["message"]["blocks"][0]["elements"][0] == BUTTON


def test_a_menu_choice_carries_the_selected_option(fake_slack: FakeSlack, fake_ca: TestCA) -> None:
    ts = post(fake_slack, fake_ca, BUTTON, MENU)
    (action,) = fake_slack.click_payload(ts, "silence", option="4 h")["actions"]
    assert action["selected_option"]["value"] == "silence-4h:1.2"
    with pytest.raises(KeyError):
        fake_slack.click_payload(ts, "silence", option="forever")
    with pytest.raises(KeyError):
        fake_slack.click_payload(ts, "no-such-element")


def test_the_response_url_records_ephemeral_answers_and_refuses_empty_ones(
    fake_slack: FakeSlack, fake_ca: TestCA
) -> None:
    ts = post(fake_slack, fake_ca, BUTTON)
    url = fake_slack.click_payload(ts, "ack")["response_url"]
    verify = str(fake_ca.ca_bundle)
    ok = requests.post(
        url, json={"response_type": "ephemeral", "text": "no"}, verify=verify, timeout=5
    )
    assert ok.status_code == 200 and ok.json() == {"ok": True}
    empty = requests.post(url, json={"response_type": "ephemeral"}, verify=verify, timeout=5)
    assert empty.status_code == 400
    (answer,) = fake_slack.responses
    assert answer["text"] == "no" and answer["action"] == url.rsplit("/", 1)[1]


@pytest.mark.parametrize(
    ("element", "problem"),
    [
        ({**BUTTON, "text": {"type": "plain_text", "text": "x" * 76}}, "/elements/0/text"),
        ({**BUTTON, "value": "v" * 2001}, "/elements/0/value"),
        ({**MENU, "options": [{**MENU["options"][0], "value": "v" * 151}]}, "/options/0/value"),
        ({**MENU, "options": []}, "/elements/0/options"),
    ],
)
def test_interactive_elements_over_slacks_limits_are_invalid_blocks(
    fake_slack: FakeSlack, fake_ca: TestCA, element: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        post(fake_slack, fake_ca, element)
    assert raised.value.response["error"] == "invalid_blocks"
    assert problem in json.dumps(raised.value.response["errors"])


def test_two_elements_with_one_action_id_are_invalid_blocks(
    fake_slack: FakeSlack, fake_ca: TestCA
) -> None:
    with pytest.raises(SlackApiError) as raised:
        post(fake_slack, fake_ca, BUTTON, {**MENU, "action_id": "ack"})
    assert "unique" in json.dumps(raised.value.response["errors"])


def test_slack_requests_verify_with_slack_sdks_own_verifier() -> None:
    payload = {"type": "block_actions", "actions": []}
    signed = slack_request("s3cret", payload)
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid_request(signed.body, signed.headers)
    assert not SignatureVerifier("other").is_valid_request(signed.body, signed.headers)
    assert json.loads(parse_qs(signed.body.decode())["payload"][0]) == payload
    old = slack_request("s3cret", payload, timestamp=int(time.time()) - 400)
    assert not verifier.is_valid_request(old.body, old.headers)


def test_pagerduty_requests_carry_one_v1_signature_per_secret() -> None:
    event = pagerduty_incident_event("incident.resolved", "key", status="resolved")
    signed = pagerduty_request(("old", "new"), event)
    signatures = signed.headers["X-PagerDuty-Signature"].split(",")
    for secret, signature in zip(("old", "new"), signatures, strict=True):
        digest = hmac.new(secret.encode(), signed.body, hashlib.sha256).hexdigest()
        assert signature == f"v1={digest}"
    assert json.loads(signed.body)["event"]["data"]["incident_key"] == "key"
