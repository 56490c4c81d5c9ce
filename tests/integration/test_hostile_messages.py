"""Alert text is data: through the webhook, it never speaks in Slack as the bot, and every
message and event the bridge builds from it is one the vendor accepts (issues 24 and 25).

Delivered to the Slack and PagerDuty replicas, which refuse what the vendors refuse
(`invalid_blocks` for a context element over 3000 characters, PagerDuty's 512 KB).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine

from bridge.settings import Settings
from tests.fakes.pagerduty import MAX_EVENT_BYTES, FakePagerDuty
from tests.fakes.slack import FakeSlack, SlackMessage
from tests.support.bridge_app import deliver_until_settled, deliveries, make_app
from tests.support.bridge_app import post_alerts as post
from tests.support.mrkdwn_check import message_violations
from tests.support.payloads import alert, payload, resolved

PHISHING = "<https://evil.example/login|Open PagerDuty>"
MENTIONS = "<!channel> <!here> <!everyone> <@U0ADMIN> <#C0SECRET> <!subteam^S0ONCALL>"


def every_message(slack: FakeSlack) -> list[tuple[str | None, list[Any] | None]]:
    """Each top-level message, each of its updates and each thread reply, as Slack got them."""
    seen: list[tuple[str | None, list[Any] | None]] = []
    for message in slack.top_level():
        seen.append((message.text, message.blocks))
        seen += [(u.get("text"), u.get("blocks")) for u in slack.updates(message.ts)]
        replies: list[SlackMessage] = slack.replies(message.ts)
        seen += [(r.text, r.blocks) for r in replies]
    return seen


def test_labels_and_annotations_never_mention_anyone_or_show_a_link_in_slack(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app = make_app(live_settings, engine)
    hostile = alert(
        name=f"GPUHot {MENTIONS}",
        node=f"dgx-spark-01 {PHISHING}",
        fingerprint="hostile",
        annotations={
            "summary": f"{MENTIONS} & {PHISHING}",
            "description": f"{PHISHING} &lt;!channel&gt;",
            "value": f"<!here> 87 °C {PHISHING}",
            "runbook_url": "https://evil.example/login|Open PagerDuty>",
        },
    )
    post(app, payload(hostile))
    deliver_until_settled(app)
    post(app, payload(resolved(hostile)))
    deliver_until_settled(app)

    messages = every_message(slack)
    assert len(messages) >= 3  # the message, its update on resolve, the resolve reply
    for text, blocks in messages:
        assert message_violations(text, blocks) == []
    shown = json.dumps([m for m in messages])
    assert "Open PagerDuty" in shown  # the text is there, as text
    assert "&lt;!channel&gt;" in shown
    # The runbook link stays a link, to the URL given, with `|` and `>` percent-encoded.
    assert "<https://evil.example/login%7COpen%20PagerDuty%3E|Runbook>" in shown


def test_an_alert_with_a_3_5_kb_generator_url_is_delivered_to_slack(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    """Issue 24: the links block is a context element, which Slack caps at 3000 characters."""
    app = make_app(live_settings, engine)
    long_url = "http://prometheus:9090/graph?g0.expr=" + "DCGM_FI_DEV_GPU_TEMP%20%3E%2085" * 112
    assert 3500 <= len(long_url) <= 3600
    firing = alert(runbook_url="unused")
    firing["generatorURL"] = long_url
    post(app, payload(firing))
    deliver_until_settled(app)

    assert [d["status"] for d in deliveries(engine)] == ["delivered", "delivered"]
    (message,) = slack.top_level()
    links = message.blocks[-1]["elements"][0]["text"] if message.blocks else ""
    assert "Prometheus graph (link too long for Slack)" in links
    assert "|Silence in Alertmanager>" in links


def test_a_critical_within_the_webhooks_limits_pages_trimmed_and_says_so(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    """Issue 25 item 4: 40 annotations of 16,000 characters made a 655 KB event (a 400)."""
    app = make_app(live_settings, engine)
    annotations = {f"note_{i:02d}": chr(ord("a") + i % 26) * 16_000 for i in range(40)}
    annotations["summary"] = "GPU 0 at 87 °C"
    post(app, payload(alert(annotations=annotations)))
    deliver_until_settled(app)

    (trigger,) = pagerduty.triggers()
    assert len(json.dumps(trigger).encode()) <= MAX_EVENT_BYTES
    details = trigger["payload"]["custom_details"]
    assert "PagerDuty's 512 KB" in details["truncated"]
    assert details["annotations"]["summary"] == "GPU 0 at 87 °C"  # short values stay whole
    assert details["annotations"]["note_00"].startswith("a" * 1000)
    assert trigger["payload"]["summary"].endswith("GPU 0 at 87 °C")
    assert all(d["status"] == "delivered" for d in deliveries(engine))
