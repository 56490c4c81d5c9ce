"""Slack click answer time: signed button clicks to a real `alert-bridge serve`.

Slack shows the user an error when an interaction is not answered within 3 seconds. This
posts `--alerts` critical alerts (each its own Slack message, to the Slack replica), then
clicks Acknowledge on each message, one after another, `--interval` apart, signed as
Slack signs. Measured per click: the HTTP answer; the click to the message's update in
place (outbox → chat.update on the replica); the click to PagerDuty's `acknowledge`.
SQLite unless `--database-url`; enrichment off; windows have no Alertmanager to reach.

    .venv/bin/python bench/click_answer.py [--alerts 60] [--interval 0.05]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence

import requests
from common import (
    REQUEST_TIMEOUT_S,
    PayloadFactory,
    add_bridge_args,
    latency_table,
    machine_line,
    ms,
    print_header,
    running_bridge,
)

ROUTING_KEY = "benchbenchbenchbenchbenchbench00"
SLACK_TOKEN = "xoxb-bench-token"
SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
WAIT_S = 120.0
SLACK_ANSWER_BUDGET_S = 3.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=60, help="alerts, one click each")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between clicks")
    add_bridge_args(parser)
    parser.add_argument("--quick", action="store_true", help="15 clicks (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.alerts = min(args.alerts, 15)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Imported here: `common` puts the repository root on sys.path first.
    from tests.fakes.pagerduty import FakePagerDuty
    from tests.fakes.signing import slack_request
    from tests.fakes.slack import FakeSlack
    from tests.fakes.tls import TestCA
    from tests.support.procs import free_port

    print_header(args.database_url)
    print("Slack and PagerDuty: HTTPS replicas in the benchmark process; enrichment: none")
    ca = TestCA()
    slack, pagerduty = FakeSlack(ca, token=SLACK_TOKEN), FakePagerDuty(ca)
    try:
        slack.start()
        pagerduty.start()
        config = ca.directory / "bridge.yml"
        config.write_text("enrichment:\n  enabled: false\ndigest:\n  schedules: []\n")
        env = {
            "BRIDGE_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "BRIDGE_PAGERDUTY_EVENTS_URL": pagerduty.url,
            "BRIDGE_PAGERDUTY_EVENTS_PER_MINUTE": "0",
            "BRIDGE_SLACK_BOT_TOKEN": SLACK_TOKEN,
            "BRIDGE_SLACK_CHANNEL": "#alerts",
            "BRIDGE_SLACK_API_URL": slack.api_url,
            "BRIDGE_SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "BRIDGE_CA_BUNDLE": str(ca.ca_bundle),
            "BRIDGE_CONFIG": str(config),
            "BRIDGE_ALERTMANAGER_URL": f"http://127.0.0.1:{free_port()}",
        }
        with running_bridge(
            database_url=args.database_url, env=env, log_level=args.log_level
        ) as bridge:
            factory = PayloadFactory(1, severity="critical", tag="click")
            session = requests.Session()
            for seq in range(args.alerts):
                session.post(
                    bridge.webhook_url,
                    data=factory.body(seq),
                    headers={"Content-Type": "application/json"},
                    timeout=REQUEST_TIMEOUT_S,
                ).raise_for_status()
            slack.wait_for(
                lambda: len(slack.top_level()) >= args.alerts, WAIT_S, "the alert messages"
            )
            messages = slack.top_level()
            answers: list[float] = []
            clicked: dict[str, float] = {}
            statuses: dict[int, int] = {}
            for message in messages:
                signed = slack_request(SIGNING_SECRET, slack.click_payload(message.ts, "ack"))
                sent = time.monotonic()
                answer = session.post(
                    f"{bridge.url}/slack/interactions",
                    data=signed.body,
                    headers=signed.headers,
                    timeout=REQUEST_TIMEOUT_S,
                )
                answers.append(time.monotonic() - sent)
                clicked[message.ts] = sent
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                time.sleep(args.interval)
            try:
                slack.wait_for(
                    lambda: all(slack.updates(ts) for ts in clicked), WAIT_S, "the updates"
                )
                pagerduty.wait_for(
                    lambda: len(pagerduty.acknowledges()) >= len(clicked), WAIT_S, "the acks"
                )
            except AssertionError as exc:  # report what did arrive
                print(f"warning: {exc}", file=sys.stderr)
    finally:
        slack.stop()
        pagerduty.stop()
        ca.cleanup()

    updated = [
        slack.updates(ts)[0]["received_at"] - t for ts, t in clicked.items() if slack.updates(ts)
    ]
    key_of = {t["dedup_key"]: t["payload"]["summary"] for t in pagerduty.triggers()}
    acked_at = sorted(
        e["received_at"] for e in pagerduty.acknowledges() if e["dedup_key"] in key_of
    )
    first_click = min(clicked.values(), default=math.nan)
    print(
        f"{len(clicked)} clicks on Acknowledge, one per {args.interval * 1000:g} ms, "
        f"answers {statuses}"
    )
    latency_table([("click → HTTP answer", answers), ("click → message updated", updated)])
    print()
    span = (max(acked_at) - first_click) if acked_at else math.nan
    print(
        f"PagerDuty acknowledges received: {len(acked_at)} of {len(clicked)}; "
        f"last one {ms(span)} ms after the first click"
    )
    print(f"Slack's budget, for reference: answer within {SLACK_ANSWER_BUDGET_S:g} s")
    print(machine_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
