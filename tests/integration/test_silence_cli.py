"""`alert-bridge silence add|list|expire` against a running bridge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.bridge_proc import bridge_env, start_bridge
from tests.support.procs import REPO_ROOT

pytestmark = pytest.mark.slow
TOKEN = "cli-api-token-0123456789abcdef-tests"


def cli(url: str, *args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["BRIDGE_URL"] = url
    if token:
        env["BRIDGE_API_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "bridge", "silence", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_add_list_expire_with_readable_tables_and_errors(tmp_path: Path) -> None:
    env = bridge_env(
        tmp_path,
        f"sqlite:///{tmp_path}/cli.db",
        BRIDGE_API_TOKEN=TOKEN,
        BRIDGE_ALERTMANAGER_URL="http://127.0.0.1:1",
    )
    with start_bridge(tmp_path, env) as bridge:
        added = cli(
            bridge.url,
            "add",
            "--node",
            "dgx-spark-02",
            "--matcher",
            'alertname=~"GPU.*"',
            "--duration",
            "2h",
            "--comment",
            "driver upgrade",
        )
        assert added.returncode == 0, added.stderr
        header, row = added.stdout.splitlines()[:2]
        assert header.split()[:3] == ["ID", "STATE", "SYNC"]
        assert "active" in row and "pending" in row
        assert "alertname=~GPU.*,node=dgx-spark-02" in row
        assert "not yet in Alertmanager" in added.stdout

        recurring = cli(
            bridge.url,
            "add",
            "--node",
            "dgx-spark-01",
            "--cron",
            "0 2 * * SUN",
            "--duration",
            "2h",
            "--timezone",
            "Europe/Berlin",
            "--comment",
            "weekly reboot",
        )
        assert recurring.returncode == 0, recurring.stderr
        assert "cron 0 2 * * SUN Europe/Berlin" in recurring.stdout

        listed = cli(bridge.url, "list", "--node", "dgx-spark-02")
        assert listed.returncode == 0
        assert len(listed.stdout.splitlines()) == 2
        window_id = listed.stdout.splitlines()[1].split()[0]

        expired = cli(bridge.url, "expire", window_id)
        assert expired.returncode == 0, expired.stderr
        assert "expired" in expired.stdout.splitlines()[1]

        refused = cli(bridge.url, "add", "--node", "x", "--duration", "9d", "--comment", "c")
        assert refused.returncode == 1
        assert refused.stderr.startswith("alert-bridge silence: invalid window: duration")

        no_token = cli(bridge.url, "expire", window_id, token=None)
        assert no_token.returncode == 1
        assert "Authorization: Bearer" in no_token.stderr

    unreachable = cli(bridge.url, "list")
    assert unreachable.returncode == 1
    assert "cannot reach the bridge" in unreachable.stderr and "BRIDGE_URL" in unreachable.stderr


def test_windows_no_reader_could_handle_are_refused_naming_the_field(tmp_path: Path) -> None:
    env = bridge_env(
        tmp_path,
        f"sqlite:///{tmp_path}/cli.db",
        BRIDGE_API_TOKEN=TOKEN,
        BRIDGE_ALERTMANAGER_URL="http://127.0.0.1:1",
    )
    base = ("add", "--comment", "c")
    cases = [
        (("--matcher", 'alertname=~"(?=GPU)"', "--duration", "1h"), "matchers[0].value"),
        (("--matcher", 'alertname!=""', "--duration", "1h"), "matchers these matchers match"),
        (("--matcher", 'severity=~"(?s).+"', "--duration", "1h"), "matchers these matchers match"),
        (("--node", "dgx\x1b[2J", "--duration", "1h"), "node contains the control character"),
        (("--node", "x", "--duration", "99999999999d"), "duration"),
        (("--node", "x", "--start", "2026-W49-1T10:00:00Z", "--duration", "1h"), "startsAt"),
        (("--node", "x", "--start", "9999-12-31T23:59:59Z", "--duration", "1h"), "startsAt"),
        (("--node", "x", "--cron", "* * * * *", "--duration", "1d"), "recurrence.duration"),
        (("--node", "x", "--cron", "0 0 30 2 *", "--duration", "1h"), "recurrence.cron"),
    ]
    with start_bridge(tmp_path, env) as bridge:
        for args, field in cases:
            answer = cli(bridge.url, *base, *args)
            assert answer.returncode == 1, (args, answer.stdout)
            assert answer.stderr.startswith(f"alert-bridge silence: invalid window: {field}"), (
                args,
                answer.stderr,
            )
        listed = cli(bridge.url, "list")
        assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 1  # header only


def test_with_read_auth_on_listing_needs_the_token_and_says_so(tmp_path: Path) -> None:
    env = bridge_env(
        tmp_path,
        f"sqlite:///{tmp_path}/cli.db",
        BRIDGE_API_TOKEN=TOKEN,
        BRIDGE_CONSOLE_READ_AUTH="true",
        BRIDGE_ALERTMANAGER_URL="http://127.0.0.1:1",
    )
    with start_bridge(tmp_path, env) as bridge:
        assert cli(bridge.url, "list").returncode == 0
        refused = cli(bridge.url, "list", token=None)
        assert refused.returncode != 0
        assert "unauthorized: BRIDGE_CONSOLE_READ_AUTH is on" in refused.stderr
        assert requests.get(f"{bridge.url}/alerts", timeout=10).status_code == 401
        with_token = {"Authorization": f"Bearer {TOKEN}"}
        assert requests.get(f"{bridge.url}/alerts", headers=with_token, timeout=10).ok
