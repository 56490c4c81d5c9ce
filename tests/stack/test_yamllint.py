"""yamllint, with the repository's .yamllint, on the stack's YAML."""

from __future__ import annotations

from pathlib import Path

from tests.stack.helpers import REPO_ROOT, describe, find_tool, run

PATHS = ["prometheus", "alertmanager", "grafana/provisioning", "docker-compose.yml"]


def test_stack_yaml_passes_yamllint() -> None:
    yamllint = find_tool("yamllint")
    result = run([yamllint, "--strict", "-c", str(REPO_ROOT / ".yamllint"), *PATHS])
    assert result.returncode == 0, describe(result)


def test_yamllint_config_would_catch_a_problem(tmp_path: Path) -> None:
    yamllint = find_tool("yamllint")
    bad = tmp_path / "bad.yml"
    bad.write_text("key: value\nkey: other\n")  # duplicate key: the later one silently wins
    result = run([yamllint, "--strict", "-c", str(REPO_ROOT / ".yamllint"), str(bad)])
    assert result.returncode != 0, describe(result)
