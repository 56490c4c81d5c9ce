"""The bridge refuses the PagerDuty routing key the documentation shows as an example.

The placeholders are read from the documents an operator copies from, so a new example key
in the docs is refused too (or this test fails), instead of turning every page into a dead
letter at PagerDuty.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.settings import SettingsError, load_settings
from tests.support.procs import REPO_ROOT

# Where an operator finds a routing key to copy: the example secret file, and the
# `printf … > pagerduty-routing-key` lines of the install instructions.
EXAMPLE_KEY_FILE = REPO_ROOT / "secrets" / "pagerduty-routing-key.example"
DOCS_WITH_KEY_COMMANDS = (REPO_ROOT / "secrets" / "README.md", REPO_ROOT / "docs" / "operations.md")
KEY_COMMAND = re.compile(r"printf '%s' '([^']+)' > (?:\S*/)?pagerduty-routing-key")


def documented_placeholders() -> list[str]:
    keys = {EXAMPLE_KEY_FILE.read_text(encoding="utf-8").strip()}
    for doc in DOCS_WITH_KEY_COMMANDS:
        keys.update(KEY_COMMAND.findall(doc.read_text(encoding="utf-8")))
    return sorted(keys)


PLACEHOLDERS = documented_placeholders()


def _assert_explains_dry_run(message: str) -> None:
    assert message.count("\n") == 0, message
    assert "BRIDGE_PAGERDUTY_ROUTING_KEY" in message
    assert "dry-run" in message
    assert "leave BRIDGE_PAGERDUTY_ROUTING_KEY and BRIDGE_PAGERDUTY_ROUTING_KEY_FILE unset" in (
        message
    )


def test_the_docs_show_at_least_the_example_file_and_the_readme_key() -> None:
    # Guards the extraction itself: an empty list would make the tests below vacuous.
    assert len(PLACEHOLDERS) >= 2, PLACEHOLDERS
    assert EXAMPLE_KEY_FILE.read_text(encoding="utf-8").strip() in PLACEHOLDERS


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_load_settings_refuses_a_documented_placeholder_key(placeholder: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"BRIDGE_PAGERDUTY_ROUTING_KEY": placeholder})
    message = str(err.value)
    assert message.startswith("BRIDGE_PAGERDUTY_ROUTING_KEY: ")
    _assert_explains_dry_run(message)
    assert placeholder not in message


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_load_settings_refuses_a_placeholder_key_read_from_a_secret_file(
    placeholder: str, tmp_path: Path
) -> None:
    secret = tmp_path / "pagerduty-routing-key"
    secret.write_text(placeholder + "\n", encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_settings({"BRIDGE_PAGERDUTY_ROUTING_KEY_FILE": str(secret)})
    _assert_explains_dry_run(str(err.value))


def test_a_key_of_the_wrong_length_also_explains_dry_run() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"BRIDGE_PAGERDUTY_ROUTING_KEY": "<32-char PagerDuty integration key>"})
    _assert_explains_dry_run(str(err.value))


def test_a_real_looking_key_and_no_key_are_both_accepted() -> None:
    real = load_settings({"BRIDGE_PAGERDUTY_ROUTING_KEY": "e93facc04764012d7bfb002500d5d1a6"})
    assert real.pagerduty_enabled
    assert real.pagerduty_routing_key == "e93facc04764012d7bfb002500d5d1a6"
    assert not load_settings({}).pagerduty_enabled


def _cli(*args: str, key_file: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env = {
        **base,
        "BRIDGE_PAGERDUTY_ROUTING_KEY_FILE": str(key_file),
        "BRIDGE_DATABASE_URL": f"sqlite:///{key_file.parent}/bridge.db",
    }
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [("check-config",), ("serve", "--single-process")])
def test_check_config_and_serve_stop_at_start_on_the_example_key_file(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    # The operator copied secrets/pagerduty-routing-key.example instead of writing a key.
    key_file = tmp_path / "pagerduty-routing-key"
    key_file.write_bytes(EXAMPLE_KEY_FILE.read_bytes())
    result = _cli(*command, key_file=key_file)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("alert-bridge: BRIDGE_PAGERDUTY_ROUTING_KEY: ")
    _assert_explains_dry_run(lines[0])
    assert not (tmp_path / "bridge.db").exists(), "serve must stop before touching the database"
