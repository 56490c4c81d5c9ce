"""The Slack replica enforces the Web API contract, driven by the real slack_sdk clients."""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
import urllib.error
from pathlib import Path
from typing import Any

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA

from .helpers import standalone

TS = re.compile(r"\d{10}\.\d{6}")
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*XID 79* on spark-01"}}


def make_client(fake: FakeSlack, ca: TestCA, **kwargs: Any) -> WebClient:
    kwargs.setdefault("token", fake.token)
    return WebClient(base_url=fake.api_url, ssl=ca.client_ssl_context(), **kwargs)


@pytest.fixture
def client(fake_slack: FakeSlack, fake_ca: TestCA) -> WebClient:
    return make_client(fake_slack, fake_ca)


def api_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value


def ts_key(ts: str) -> tuple[int, int]:
    seconds, micros = ts.split(".")
    return int(seconds), int(micros)


# -- accepted calls ---------------------------------------------------------------------------


def test_auth_test_with_the_right_token_succeeds(client):
    response = client.auth_test()

    assert response["ok"] is True
    assert response["user_id"] == "U0FAKEBOT"


def test_post_message_answers_channel_id_and_unique_increasing_ts(client, fake_slack):
    responses = [client.chat_postMessage(channel="#alerts", text=f"m{i}") for i in range(3)]

    assert [r["channel"] for r in responses] == ["C0ALERTS"] * 3
    stamps = [r["ts"] for r in responses]
    assert all(TS.fullmatch(ts) for ts in stamps)
    assert stamps == sorted(stamps, key=ts_key) and len(set(stamps)) == 3
    assert responses[0]["message"]["text"] == "m0"
    assert [m.text for m in fake_slack.top_level("#alerts")] == ["m0", "m1", "m2"]


def test_slack_sdk_sends_chat_post_message_as_json_with_blocks_as_a_list(client, fake_slack):
    client.chat_postMessage(channel="C0ALERTS", text="fallback", blocks=[SECTION])

    [call] = fake_slack.calls
    assert call.headers["Content-Type"].startswith("application/json")
    assert call.json["blocks"] == [SECTION]
    assert call.headers["Authorization"] == "Bearer xoxb-test-token"
    assert fake_slack.top_level()[0].blocks == [SECTION]


def test_blocks_given_as_a_json_string_are_parsed(client, fake_slack):
    client.chat_postMessage(channel="#alerts", text="x", blocks=json.dumps([SECTION]))

    assert fake_slack.top_level()[0].blocks == [SECTION]


def test_form_encoded_post_message_is_accepted(client, fake_slack):
    client.api_call(
        "chat.postMessage",
        params={"channel": "#alerts", "text": "form", "blocks": json.dumps([SECTION])},
    )

    [call] = fake_slack.calls
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert (fake_slack.top_level()[0].text, fake_slack.top_level()[0].blocks) == (
        "form",
        [SECTION],
    )


def test_thread_reply_is_recorded_under_its_parent(client, fake_slack):
    parent = client.chat_postMessage(channel="#alerts", text="firing")
    reply = client.chat_postMessage(
        channel="#alerts", text="resolved", thread_ts=parent["ts"], reply_broadcast=True
    )

    assert reply["message"]["thread_ts"] == parent["ts"]
    [recorded] = fake_slack.replies(parent["ts"])
    assert (recorded.text, recorded.reply_broadcast) == ("resolved", True)
    assert len(fake_slack.top_level()) == 1
    assert [m.text for m in fake_slack.wait_for_messages(2)] == ["firing", "resolved"]


def test_reply_to_a_reply_joins_the_parent_thread(client, fake_slack):
    parent = client.chat_postMessage(channel="#alerts", text="firing")
    first = client.chat_postMessage(channel="#alerts", text="r1", thread_ts=parent["ts"])

    second = client.chat_postMessage(channel="#alerts", text="r2", thread_ts=first["ts"])

    assert second["message"]["thread_ts"] == parent["ts"]
    assert [m.text for m in fake_slack.replies(parent["ts"])] == ["r1", "r2"]


def test_update_changes_the_message_and_records_history(client, fake_slack):
    posted = client.chat_postMessage(channel="#alerts", text="firing", blocks=[SECTION])

    updated = client.chat_update(channel="C0ALERTS", ts=posted["ts"], text="resolved")

    assert updated["ts"] == posted["ts"]
    message = fake_slack.message(posted["ts"])
    assert message.text == "resolved"
    assert message.blocks == [SECTION]  # blocks left out of an update are kept
    assert [u["text"] for u in fake_slack.updates(posted["ts"])] == ["resolved"]


def test_files_upload_v2_records_the_bytes_and_shares_into_the_thread(client, fake_slack):
    chart = bytes(range(256)) * 40
    parent = client.chat_postMessage(channel="#alerts", text="firing")

    response = client.files_upload_v2(
        channel="C0ALERTS",
        file=chart,
        filename="gpu-temp.png",
        title="GPU temperature",
        thread_ts=parent["ts"],
        initial_comment="last hour",
    )

    [upload] = fake_slack.files.values()
    assert response["file"]["id"] == upload.id
    assert upload.data == chart
    assert (upload.title, upload.channel, upload.thread_ts) == (
        "GPU temperature",
        "C0ALERTS",
        parent["ts"],
    )
    [share] = fake_slack.replies(parent["ts"])
    assert (share.files, share.text) == ([upload.id], "last hour")
    assert [c.api_method for c in fake_slack.calls[1:]] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]


# -- errors Slack answers with ok: false --------------------------------------------------------


def test_wrong_token_is_invalid_auth(fake_slack, fake_ca):
    client = make_client(fake_slack, fake_ca, token="xoxb-wrong")

    error = api_error(lambda: client.chat_postMessage(channel="#alerts", text="x"))

    assert (error.response.status_code, error.response["error"]) == (200, "invalid_auth")
    assert fake_slack.messages == []


def test_missing_token_is_not_authed(fake_slack, fake_ca):
    client = make_client(fake_slack, fake_ca, token=None)

    error = api_error(lambda: client.chat_postMessage(channel="#alerts", text="x"))

    assert error.response["error"] == "not_authed"


def header(chars: int) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": "h" * chars}}


def section(chars: int) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": "s" * chars}}


def fields(count: int) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * count}


def context(chars: int) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * chars}]}


def context_image(alt_chars: int) -> dict[str, Any]:
    image = {"type": "image", "image_url": "https://example.com/a.png", "alt_text": "a" * alt_chars}
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}, image]}


def accessory(chars: int) -> dict[str, Any]:
    button = {
        "type": "button",
        "action_id": "a",
        "text": {"type": "plain_text", "text": "b" * chars},
    }
    return {**section(1), "accessory": button}


# Each limit once just inside (accepted) and once just outside (rejected).
LIMITS = [
    ("50 blocks", {"blocks": [SECTION] * 50}, "51 blocks", {"blocks": [SECTION] * 51}),
    ("header 150", {"blocks": [header(150)]}, "header 151", {"blocks": [header(151)]}),
    ("section 3000", {"blocks": [section(3000)]}, "section 3001", {"blocks": [section(3001)]}),
    ("10 fields", {"blocks": [fields(10)]}, "11 fields", {"blocks": [fields(11)]}),
    ("button 75", {"blocks": [accessory(75)]}, "button 76", {"blocks": [accessory(76)]}),
    ("context 3000", {"blocks": [context(3000)]}, "context 3001", {"blocks": [context(3001)]}),
    (
        "context alt 2000",
        {"blocks": [context_image(2000)]},
        "alt 2001",
        {"blocks": [context_image(2001)]},
    ),
    ("text 40000", {"text": "t" * 40_000}, "text 40001", {"text": "t" * 40_001}),
]


@pytest.mark.parametrize(("limit", "inside"), [(row[0], row[1]) for row in LIMITS])
def test_content_at_the_limit_is_accepted(client, fake_slack, limit, inside):
    client.chat_postMessage(channel="#alerts", **{"text": "fallback", **inside})

    assert len(fake_slack.messages) == 1


@pytest.mark.parametrize(
    ("case", "arguments", "error"),
    [
        (row[2], {"text": "fallback", **row[3]}, "invalid_blocks")
        for row in LIMITS
        if "blocks" in row[3]
    ]
    + [
        ("text 40001", {"text": "t" * 40_001}, "msg_too_long"),
        ("unknown block type", {"text": "x", "blocks": [{"type": "banner"}]}, "invalid_blocks"),
        (
            "header in mrkdwn",
            {"text": "x", "blocks": [{**header(5), "text": SECTION["text"]}]},
            "invalid_blocks",
        ),
        ("no text nor blocks", {}, "no_text"),
        ("unknown channel", {"channel": "#nope", "text": "x"}, "channel_not_found"),
        ("unknown thread", {"text": "x", "thread_ts": "1700000000.000001"}, "thread_not_found"),
        ("blocks not JSON", {"text": "x", "blocks": "[{"}, "invalid_blocks_format"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 30 else "",
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_contract_violations_are_ok_false(client, fake_slack, case, arguments, error):
    arguments.setdefault("channel", "#alerts")

    raised = api_error(lambda: client.chat_postMessage(**arguments))

    assert raised.response.status_code == 200
    assert raised.response["error"] == error
    assert fake_slack.messages == []


def test_invalid_blocks_answer_points_at_the_offending_block(client):
    raised = api_error(
        lambda: client.chat_postMessage(channel="#alerts", text="x", blocks=[SECTION, header(151)])
    )

    assert raised.response["errors"] == [
        "must be less than 151 characters [json-pointer:/blocks/1/text/text]"
    ]


def test_update_of_an_unknown_ts_is_message_not_found(client):
    raised = api_error(
        lambda: client.chat_update(channel="#alerts", ts="1700000000.000001", text="x")
    )

    assert raised.response["error"] == "message_not_found"


def test_per_channel_rate_limit_answers_429_with_integer_retry_after(fake_ca):
    with FakeSlack(fake_ca, rate_limit_per_second=1) as fake:
        client = make_client(fake, fake_ca)
        client.chat_postMessage(channel="#alerts", text="first")
        raised = api_error(lambda: client.chat_postMessage(channel="#alerts", text="second"))
        client.chat_postMessage(channel="#alerts-info", text="other channel")

    assert raised.response.status_code == 429
    assert re.fullmatch(r"[1-9]\d*", raised.response.headers["Retry-After"])
    assert raised.response["error"] == "ratelimited"
    assert [m.text for m in fake.messages] == ["first", "other channel"]


def test_the_documented_limits_are_on_by_default(fake_ca):
    # 60 posts a minute per channel (1/s sustained, bursts allowed), 50 updates a minute.
    with FakeSlack(fake_ca) as fake:
        client = make_client(fake, fake_ca)
        for i in range(60):
            client.chat_postMessage(channel="#alerts", text=f"burst {i}")
        over = api_error(lambda: client.chat_postMessage(channel="#alerts", text="61st"))
        client.chat_postMessage(channel="#alerts-info", text="other channel")
        ts = fake.messages[0].ts
        for i in range(50):
            client.chat_update(channel="#alerts", ts=ts, text=f"update {i}")
        too_many = api_error(lambda: client.chat_update(channel="#alerts", ts=ts, text="51st"))

    assert over.response.status_code == 429 and over.response["error"] == "ratelimited"
    assert too_many.response.status_code == 429
    assert len(fake.messages) == 61


# -- fault injection --------------------------------------------------------------------------


def test_injected_429_exposes_retry_after_to_the_client(client, fake_slack):
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=7)

    raised = api_error(lambda: client.chat_postMessage(channel="#alerts", text="x"))

    assert raised.response.status_code == 429
    assert raised.response.headers["Retry-After"] == "7"
    assert raised.response["error"] == "ratelimited"
    assert fake_slack.messages == []


def test_rate_limit_retry_handler_gets_through_an_injected_429(client, fake_slack):
    fake_slack.fail_next("chat.postMessage", retry_after=0)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))

    client.chat_postMessage(channel="#alerts", text="x")

    assert [c.status for c in fake_slack.calls] == [429, 200]
    assert len(fake_slack.messages) == 1


def test_injected_error_is_ok_false_once(client, fake_slack):
    fake_slack.fail_next("chat.postMessage", error="not_in_channel")

    raised = api_error(lambda: client.chat_postMessage(channel="#alerts", text="x"))
    client.chat_postMessage(channel="#alerts", text="y")

    assert (raised.response.status_code, raised.response["error"]) == (200, "not_in_channel")
    assert [m.text for m in fake_slack.messages] == ["y"]


def test_injected_503_is_an_http_error(client, fake_slack):
    fake_slack.fail_next("*", status=503, times=2)

    first = api_error(lambda: client.auth_test())
    second = api_error(lambda: client.chat_postMessage(channel="#alerts", text="x"))

    assert first.response.status_code == second.response.status_code == 503


def test_faults_target_only_their_method(client, fake_slack):
    fake_slack.fail_next("chat.update", error="cant_update_message")
    posted = client.chat_postMessage(channel="#alerts", text="x")

    raised = api_error(lambda: client.chat_update(channel="#alerts", ts=posted["ts"], text="y"))

    assert raised.response["error"] == "cant_update_message"


def test_dropped_connection_is_retried_once_by_slack_sdk(client, fake_slack):
    fake_slack.drop_connection_next("chat.postMessage")

    client.chat_postMessage(channel="#alerts", text="x")

    assert [(c.status, c.fault) for c in fake_slack.calls] == [(None, "drop"), (200, None)]


def test_dropped_connection_without_retry_handlers_is_remote_disconnected(client, fake_slack):
    fake_slack.drop_connection_next("chat.postMessage")
    client.retry_handlers.clear()

    with pytest.raises(http.client.RemoteDisconnected):
        client.chat_postMessage(channel="#alerts", text="x")


def test_hang_times_out_the_client_and_stop_still_returns_promptly(fake_ca):
    fake = FakeSlack(fake_ca).start()
    try:
        fake.hang_next("chat.postMessage")
        client = make_client(fake, fake_ca, timeout=1)
        with pytest.raises(TimeoutError):
            client.chat_postMessage(channel="#alerts", text="x")
    finally:
        started = time.monotonic()
        fake.stop()
        stopped_in = time.monotonic() - started

    assert fake.calls[0].fault == "hang"
    assert stopped_in < 2


def test_failed_upload_step_fails_files_upload_v2(client, fake_slack):
    fake_slack.fail_next("upload", status=500)

    # urllib raises before slack_sdk's own "Failed to upload a file" status check runs.
    with pytest.raises(urllib.error.HTTPError) as raised:
        client.files_upload_v2(channel="C0ALERTS", content=b"x", filename="a.txt")

    assert raised.value.code == 500

    assert not any(f.completed for f in fake_slack.files.values())


# -- incoming webhook -------------------------------------------------------------------------


def test_incoming_webhook_answers_ok_and_records_the_post(fake_slack, fake_ca):
    webhook = WebhookClient(fake_slack.webhook_url, ssl=fake_ca.client_ssl_context())

    response = webhook.send(text="disk full on spark-02", blocks=[SECTION])

    assert (response.status_code, response.body) == (200, "ok")
    assert fake_slack.webhook_posts[0]["text"] == "disk full on spark-02"


@pytest.mark.parametrize(
    ("path", "body", "status", "answer"),
    [
        (None, b"{}", 400, "no_text"),
        (None, b"{not json", 400, "invalid_payload"),
        (None, json.dumps({"blocks": [{"type": "banner"}]}).encode(), 400, "invalid_blocks"),
        ("/services/T000/B000/WRONG", b'{"text": "x"}', 404, "no_service"),
    ],
)
def test_incoming_webhook_rejects_bad_posts(fake_slack, fake_ca, path, body, status, answer):
    response = requests.post(
        fake_slack.url + (path or fake_slack.webhook_path),
        data=body,
        headers={"Content-Type": "application/json"},
        verify=str(fake_ca.ca_bundle),
    )

    assert (response.status_code, response.text) == (status, answer)
    assert fake_slack.webhook_posts == []


# -- control API and standalone process -------------------------------------------------------


def test_control_api_injects_faults_lists_messages_and_resets(client, fake_slack, fake_ca):
    control = f"{fake_slack.url}/_fake"
    verify = str(fake_ca.ca_bundle)

    requests.post(
        f"{control}/faults",
        json={"method": "chat.postMessage", "error": "channel_not_found"},
        verify=verify,
    ).raise_for_status()
    raised = api_error(lambda: client.chat_postMessage(channel="#alerts", text="x"))
    client.chat_postMessage(channel="#alerts", text="y")
    messages = requests.get(f"{control}/messages", verify=verify).json()
    requests.post(f"{control}/reset", verify=verify).raise_for_status()

    assert raised.response["error"] == "channel_not_found"
    assert [m["text"] for m in messages] == ["y"]
    assert requests.get(f"{control}/calls", verify=verify).json() == []


def test_standalone_entry_point_serves_until_sigterm(tmp_path: Path):
    with standalone("tests.fakes.slack", tmp_path, "--channel", "#ops=C0OPS") as (url, _):
        context = ssl.create_default_context(cafile=tmp_path / "ca.pem")
        client = WebClient(token="xoxb-test-token", base_url=f"{url}/api/", ssl=context)
        response = client.chat_postMessage(channel="#ops", text="from another process")
        calls = requests.get(f"{url}/_fake/calls", verify=str(tmp_path / "ca.pem")).json()

    assert response["channel"] == "C0OPS"
    assert [c["method"] for c in calls] == ["chat.postMessage"]
