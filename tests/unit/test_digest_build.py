"""The summary message (pure): what it says for known facts, and that it always fits Slack."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.config import ConfigError, load_config
from bridge.digest.build import as_text, build_digest
from bridge.digest.config import DigestConfigError, digest_channel, digest_schedules
from bridge.digest.facts import (
    AlertnameStats,
    DigestFacts,
    FailedDelivery,
    FiringAlert,
    NoisyAlert,
    WindowFact,
)
from tests.fakes.slack_blocks import (
    MAX_BLOCKS,
    MAX_HEADER_CHARS,
    MAX_SECTION_FIELDS,
    MAX_SECTION_TEXT_CHARS,
    validate_blocks,
)

END = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
START = END - timedelta(hours=24)
QUIET = DigestFacts(start=START, end=END, now=END + timedelta(seconds=30))

BUSY = replace(
    QUIET,
    firing=(
        FiringAlert("GPUTemperatureCritical", "dgx-spark-01", "critical", END - timedelta(hours=2)),
        FiringAlert("GPUTemperatureCritical", "dgx-spark-01", "warning", END - timedelta(hours=1)),
        FiringAlert("NodeDown", "dgx-spark-02", "critical", END - timedelta(minutes=12)),
        FiringAlert("XidError", "dgx-spark-02", "warning", END, in_maintenance=True),
    ),
    firing_total=4,
    alertnames=(
        AlertnameStats("GPUTemperatureCritical", fired=3, resolved=2, mean_resolve_seconds=720),
        AlertnameStats("NodeDown", fired=1, resolved=0),
    ),
    noisiest=(NoisyAlert("GPUTemperatureCritical", "dgx-spark-01", 3),),
    mean_resolve_seconds=720,
    pages_sent=4,
    failed=(
        FailedDelivery(
            "slack", "trigger", "XidError", "dgx-spark-02", "slack error: channel_not_found", END
        ),
    ),
    failed_total=1,
    active_windows=(
        WindowFact('node="dgx-spark-02"', "driver upgrade", "ops", END, END + timedelta(hours=2)),
    ),
    upcoming_windows=(
        WindowFact(
            'node="dgx-spark-01"',
            "weekly reboot",
            "ops",
            END + timedelta(days=1),
            END + timedelta(days=1, hours=1),
            cron="0 9 * * SUN",
        ),
    ),
)


def render(facts: DigestFacts, timezone: str = "UTC") -> tuple[str, list[dict[str, Any]], str]:
    fallback, blocks = build_digest(facts, timezone)
    return fallback, blocks, as_text(blocks)


@pytest.mark.parametrize(
    ("facts", "timezone", "expected_lines"),
    [
        pytest.param(
            QUIET,
            "UTC",
            [
                "✅ All quiet",
                "No alerts fired or resolved between Fri 27 Nov 09:00 and Sat 28 Nov 09:00 (UTC),"
                " and nothing is firing now.",
            ],
            id="quiet",
        ),
        pytest.param(
            replace(QUIET, active_windows=BUSY.active_windows),
            "UTC",
            ["✅ All quiet", "Maintenance windows: 1 active."],
            id="quiet-with-a-window",
        ),
        pytest.param(
            replace(QUIET, now=END + timedelta(hours=3, minutes=5)),
            "UTC",
            ["sent 3h 5m late: the bridge was not running"],
            id="quiet-and-late",
        ),
        pytest.param(
            BUSY,
            "UTC",
            [
                "📊 Alert summary Fri 27 Nov 09:00 – Sat 28 Nov 09:00",
                "Period 1d · times in UTC",
                "Firing now: 4",
                "Fired: 4",
                "Resolved: 2",
                "Mean time to resolve: 12m",
                "Pages sent: 4",
                "Failed deliveries: 1",
                "Firing now, by node\n",
                "dgx-spark-01: GPUTemperatureCritical ×2 (critical, for 2h)",
                "dgx-spark-02: NodeDown (critical, for 12m 30s), "
                "XidError (warning, for 30s, in maintenance)",
                "• GPUTemperatureCritical: fired 3, resolved 2, resolved in 12m on average",
                "• NodeDown: fired 1, resolved 0",
                "1. GPUTemperatureCritical on dgx-spark-01: fired 3 times",
                "• Sat 28 Nov 09:00 slack trigger of XidError on dgx-spark-02:"
                " slack error: channel_not_found",
                '• now: node="dgx-spark-02" until Sat 28 Nov 11:00: driver upgrade (ops)',
                '• upcoming: node="dgx-spark-01" Sun 29 Nov 09:00 – Sun 29 Nov 10:00,'
                " recurring 0 9 * * SUN: weekly reboot (ops)",
            ],
            id="busy",
        ),
        pytest.param(
            BUSY,
            "Europe/Berlin",
            [
                "📊 Alert summary Fri 27 Nov 10:00 – Sat 28 Nov 10:00",
                "times in Europe/Berlin",
                "• Sat 28 Nov 10:00 slack trigger of XidError",
            ],
            id="busy-in-berlin",
        ),
        pytest.param(
            replace(BUSY, pages_dry_run=2, retrying=3),
            "UTC",
            ["Pages sent: 4 (+2 dry-run)", "Failed deliveries: 1 (3 retrying now)"],
            id="dry-run-pages-and-retries",
        ),
        pytest.param(
            replace(QUIET, retrying=1),
            "UTC",
            ["Failed deliveries: 0 (1 retrying now)"],
            id="retrying-delivery-is-not-quiet",
        ),
    ],
)
def test_summary_text_says_what_happened(
    facts: DigestFacts, timezone: str, expected_lines: list[str]
) -> None:
    _, _, text = render(facts, timezone)
    for expected in expected_lines:
        assert expected in text


def test_quiet_period_is_a_short_message_with_a_one_line_fallback() -> None:
    fallback, blocks, _ = render(QUIET)
    assert len(blocks) == 2
    assert fallback == "All quiet: no alerts between Fri 27 Nov 09:00 and Sat 28 Nov 09:00 (UTC)."


def test_busy_fallback_counts_what_happened() -> None:
    fallback, _, _ = render(BUSY)
    assert fallback == (
        "Alert summary Fri 27 Nov 09:00 – Sat 28 Nov 09:00: "
        "4 firing now, 4 fired, 2 resolved, 4 pages, 1 failed delivery"
    )


def test_sections_without_content_are_left_out() -> None:
    facts = replace(BUSY, noisiest=(), failed=(), failed_total=0, active_windows=())
    facts = replace(facts, upcoming_windows=())
    _, _, text = render(facts)
    assert "Noisiest" not in text
    assert "Failed deliveries\n" not in text
    assert "Maintenance windows" not in text
    assert "Firing now, by node\n" in text


def test_names_are_escaped_for_slack_mrkdwn_and_plain_in_the_terminal() -> None:
    odd = FiringAlert("Disk<Full>&Co", "node<1>", "warning", END)
    _, blocks, text = render(replace(QUIET, firing=(odd,), firing_total=1))
    raw = json.dumps(blocks)
    assert "Disk&lt;Full&gt;&amp;Co" in raw and "Disk<Full>" not in raw
    assert "node<1>: Disk<Full>&Co (warning, for 30s)" in text


def _huge() -> DigestFacts:
    long = "x" * 5000
    return replace(
        BUSY,
        firing=tuple(
            FiringAlert(f"Alert{i % 37}{long}", f"node-{i % 300}", "critical", START)
            for i in range(500)
        ),
        firing_total=2000,
        alertnames=tuple(AlertnameStats(f"Alert{i}{long}", i, i, 60.0) for i in range(300)),
        noisiest=tuple(NoisyAlert(f"Alert{i}{long}", long, 99) for i in range(10)),
        failed=tuple(FailedDelivery("slack", "trigger", long, long, long, END) for _ in range(10)),
        failed_total=700,
        active_windows=tuple(WindowFact(long, long, long, END, END) for _ in range(40)),
        upcoming_windows=tuple(WindowFact(long, long, long, END, END) for _ in range(40)),
    )


def test_a_huge_period_stays_within_slack_block_kit_limits() -> None:
    fallback, blocks, text = render(_huge())
    assert validate_blocks(blocks) == []
    assert len(blocks) <= MAX_BLOCKS
    header = blocks[0]["text"]["text"]
    assert len(header) <= MAX_HEADER_CHARS
    for block in blocks:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= MAX_SECTION_TEXT_CHARS
            assert len(block.get("fields", [])) <= MAX_SECTION_FIELDS
    assert len(fallback) <= 3000
    # What is cut is said to be cut.
    assert "…and 280 more nodes" in text
    assert "…and 1500 more firing alerts (see /alerts)" in text
    assert "…and 285 more alerts" in text
    assert "…and 695 more (see /alerts)" in text
    assert "… [truncated]" in text


@pytest.mark.parametrize(
    ("raw", "schedules", "channel"),
    [
        ({}, ("0 9 * * *",), None),
        ({"digest": None}, ("0 9 * * *",), None),
        ({"digest": {"schedules": []}}, (), None),
        (
            {"digest": {"schedules": ["0 9 * * *", "0  17 * * 1-5", "0 9 * * *"]}},
            ("0 9 * * *", "0 17 * * 1-5"),
            None,
        ),
        ({"digest": {"channel": " #ops "}}, ("0 9 * * *",), "#ops"),
    ],
)
def test_digest_config_gives_schedules_and_channel(
    raw: dict[str, Any], schedules: tuple[str, ...], channel: str | None
) -> None:
    assert digest_schedules(raw) == schedules
    assert digest_channel(raw) == channel


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("daily", "digest: must be a mapping"),
        ({"schedule": ["0 9 * * *"]}, "digest: unknown keys ['schedule']"),
        ({"schedules": "0 9 * * *"}, "digest.schedules: must be a list"),
        ({"schedules": ["0 25 * * *"]}, "digest.schedules[0]: invalid cron expression"),
        ({"schedules": ["0 9 * *"]}, "digest.schedules[0]: invalid cron expression"),
        ({"schedules": [9]}, "digest.schedules[0]: must be a cron expression"),
        ({"schedules": ["0 9 * * " + "1," * 40 + "2"]}, "digest.schedules[0]: longer than 57"),
        ({"channel": ""}, "digest.channel: must be a Slack channel"),
    ],
)
def test_digest_config_errors_name_the_key(section: object, message: str) -> None:
    with pytest.raises(DigestConfigError, match="^" + message.replace("[", r"\[")):
        digest_schedules({"digest": section})


def test_bridge_config_rejects_a_bad_digest_section_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yml"
    path.write_text('digest:\n  schedules: ["0 9 * * *", "every morning"]\n')
    with pytest.raises(ConfigError, match=r"^BRIDGE_CONFIG: digest\.schedules\[1\]: invalid cron"):
        load_config(str(path))
