"""docker-compose.yml, the bridge's Dockerfile, .dockerignore, .env.example and secrets/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.stack.helpers import COMPOSE_FILE, REPO_ROOT, describe, find_tool, load_yaml, run

COMPOSE = load_yaml(COMPOSE_FILE)
SERVICES: dict[str, Any] = COMPOSE["services"]
DOCKERFILE = REPO_ROOT / "Dockerfile"


def _bind_mounts() -> list[tuple[str, str]]:
    """(service, host path) of every bind mount, short or long syntax."""
    mounts = []
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            if isinstance(volume, str):
                source = volume.split(":", 1)[0]
                if source.startswith((".", "/", "~")):
                    mounts.append((name, source))
            elif volume.get("type") == "bind":
                mounts.append((name, volume["source"]))
    return mounts


# ------------------------------------------------------------------ linters


def test_compose_file_matches_the_compose_specification() -> None:
    checker = find_tool("check-jsonschema")
    result = run([checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)])
    assert result.returncode == 0, describe(result)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = find_tool("hadolint")
    result = run([hadolint, str(DOCKERFILE)])
    assert result.returncode == 0, describe(result)


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    hadolint = find_tool("hadolint")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\n")
    assert run([hadolint, str(bad)]).returncode != 0


# ------------------------------------------------------------------ compose


def test_the_four_services_exist() -> None:
    assert set(SERVICES) == {"prometheus", "alertmanager", "grafana", "alert-bridge"}


@pytest.mark.parametrize(("service", "source"), _bind_mounts(), ids=lambda v: v)
def test_bind_mounted_paths_exist_in_the_repository(service: str, source: str) -> None:
    assert (REPO_ROOT / source).exists(), (
        f"{service} mounts {source}, which is not in the repository"
    )


@pytest.mark.parametrize(
    ("service", "published"),
    [
        ("prometheus", "9090:9090"),
        ("alertmanager", "9093:9093"),
        ("grafana", "3001:3000"),
        ("alert-bridge", "9095:9095"),
    ],
)
def test_ports_are_published(service: str, published: str) -> None:
    assert published in [str(p) for p in SERVICES[service]["ports"]]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_services_have_healthchecks_and_restart_policies(service: str) -> None:
    definition = SERVICES[service]
    assert definition.get("restart") in {"unless-stopped", "always"}
    test = definition["healthcheck"]["test"]
    command = " ".join(test) if isinstance(test, list) else test
    endpoint = {
        "prometheus": "/-/healthy",
        "alertmanager": "/-/healthy",
        "grafana": "/api/health",
        # /readyz: also unhealthy while the delivery process is down (not only the web side).
        "alert-bridge": "/readyz",
    }[service]
    assert endpoint in command


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_images_are_pinned(service: str) -> None:
    definition = SERVICES[service]
    if "build" in definition:
        return  # built from this repository's Dockerfile (tested below)
    image = definition["image"]
    repository, _, tag = image.rpartition(":")
    assert repository and tag and tag != "latest", f"{service}: {image} is not pinned to a version"
    assert re.search(r"\d+\.\d+", tag), f"{service}: {image} is not pinned to a version"


def test_compose_pins_the_versions_the_stack_is_written_for() -> None:
    assert re.fullmatch(r"prom/prometheus:v3\.\d+\.\d+", SERVICES["prometheus"]["image"])
    assert re.fullmatch(r"prom/alertmanager:v0\.28\.\d+", SERVICES["alertmanager"]["image"])
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", SERVICES["grafana"]["image"])


def test_prometheus_flags() -> None:
    flags = SERVICES["prometheus"]["command"]
    for flag in (
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.retention.time=30d",
        "--storage.tsdb.retention.size=50GB",
        "--web.enable-lifecycle",
        "--web.enable-admin-api",
    ):
        assert flag in flags


def test_grafana_admin_credentials_come_from_the_environment() -> None:
    env = SERVICES["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_USER"].startswith("${GRAFANA_ADMIN_USER")
    # ":?" makes compose refuse to start without a password instead of using a default.
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", env["GF_SECURITY_ADMIN_PASSWORD"])


def test_no_literal_passwords_or_tokens_in_compose() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "dgxspark2024" not in text  # the original description's default
    for service in SERVICES.values():
        env = service.get("environment", {})
        for key, value in env.items():
            if re.search(r"PASSWORD|TOKEN|ROUTING_KEY|SECRET", key) and not key.endswith("_FILE"):
                assert str(value).startswith("${"), f"{key} has a literal value"
        for key in ("BRIDGE_WEBHOOK_TOKEN", "BRIDGE_API_TOKEN", "BRIDGE_PAGERDUTY_ROUTING_KEY"):
            assert key not in env, f"{key} must come from a secret file ({key}_FILE)"


def test_grafana_provisioning_and_dashboards_are_mounted_where_grafana_reads_them() -> None:
    volumes = SERVICES["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    provider = load_yaml(REPO_ROOT / "grafana/provisioning/dashboards/dashboards.yml")
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_bridge_service_settings() -> None:
    bridge = SERVICES["alert-bridge"]
    assert bridge["build"]["context"] == "."
    env = bridge["environment"]
    assert env["BRIDGE_LISTEN"] == "0.0.0.0:9095"
    assert re.fullmatch(r"sqlite:////var/lib/alert-bridge/\S+\.db", env["BRIDGE_DATABASE_URL"])
    assert env["BRIDGE_PROMETHEUS_URL"] == "http://prometheus:9090"
    assert env["BRIDGE_ALERTMANAGER_URL"] == "http://alertmanager:9093"
    assert "BRIDGE_GRAFANA_URL" in env
    assert env["BRIDGE_WEBHOOK_TOKEN_FILE"] == "/run/secrets/bridge_webhook_token"
    assert env["BRIDGE_API_TOKEN_FILE"] == "/run/secrets/bridge_api_token"
    assert any(v.startswith("bridge_data:/var/lib/alert-bridge") for v in bridge["volumes"])
    assert "bridge_data" in COMPOSE["volumes"]


def test_secrets_are_files_documented_in_secrets_readme() -> None:
    readme = (REPO_ROOT / "secrets" / "README.md").read_text(encoding="utf-8")
    for name, secret in COMPOSE["secrets"].items():
        path = Path(secret["file"])
        assert path.parent == Path("secrets"), f"{name}: secret files live under secrets/"
        assert f"`{path.name}`" in readme, f"secrets/README.md does not explain {path.name}"
        assert (REPO_ROOT / "secrets" / f"{path.name}.example").is_file(), f"no {path.name}.example"
    used = {
        s if isinstance(s, str) else s["source"]
        for svc in SERVICES.values()
        for s in svc.get("secrets", [])
    }
    assert used == set(COMPOSE["secrets"])


def test_env_example_names_the_grafana_credentials_without_a_password() -> None:
    lines = (REPO_ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert values["GRAFANA_ADMIN_USER"]
    assert values["GRAFANA_ADMIN_PASSWORD"] == ""


# ------------------------------------------------------------------ Dockerfile


def test_dockerfile_builds_a_slim_non_root_image_of_the_bridge() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    bases = re.findall(r"^FROM (\S+)", text, re.M)
    assert bases and all(re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", b) for b in bases), bases
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users, "no USER: the bridge would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^EXPOSE 9095$", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*urllib\.request.*/readyz", text, re.M)
    assert re.search(r'^ENTRYPOINT \["alert-bridge"\]$', text, re.M)
    assert re.search(r'^CMD \["serve"\]$', text, re.M)
    assert re.search(r"pip install --no-cache-dir \.$", text, re.M)


def test_image_carries_the_migrations_where_the_bridge_looks_for_them() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    copied = re.search(r"^COPY migrations (\S+)$", text, re.M)
    assert copied, "migrations/ is not copied into the image"
    assert re.search(rf"BRIDGE_MIGRATIONS_DIR={re.escape(copied.group(1))}\b", text)
    assert re.search(r"^COPY alembic\.ini ", text, re.M)


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context() -> None:
    lines = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # An allow-list: exclude everything, then re-include what the build needs.
    assert lines[0] == "*"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert {"pyproject.toml", "README.md", "bridge", "migrations", "alembic.ini"} <= included
    assert not included & {"secrets", ".env", ".venv", "var", "tests"}
