"""docker-compose.yml, the bridge's Dockerfile, .dockerignore, .env.example and secrets/."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest

from bridge.settings import load_settings
from tests.stack.helpers import COMPOSE_FILE, REPO_ROOT, describe, find_tool, load_yaml, run
from tests.support.peers import SUPPORTED_RANGE

COMPOSE = load_yaml(COMPOSE_FILE)
SERVICES: dict[str, Any] = COMPOSE["services"]
DOCKERFILE = REPO_ROOT / "Dockerfile"
CADDYFILE = REPO_ROOT / "proxy" / "Caddyfile"


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


def test_the_services_exist() -> None:
    assert set(SERVICES) == {"prometheus", "alertmanager", "grafana", "alert-bridge", "proxy"}


@pytest.mark.parametrize(("service", "source"), _bind_mounts(), ids=lambda v: v)
def test_bind_mounted_paths_exist_in_the_repository(service: str, source: str) -> None:
    assert (REPO_ROOT / source).exists(), (
        f"{service} mounts {source}, which is not in the repository"
    )


def _site(port: int) -> str:
    """The block of proxy/Caddyfile that serves https on `port`."""
    text = CADDYFILE.read_text(encoding="utf-8")
    site = text[text.index(f"https://{{$MONITORING_HOST}}:{port} {{") :]
    return site[: site.index("\n}\n")]


def _published_ports() -> list[tuple[str, str]]:
    """(service, port entry) for every published port, short or long syntax."""
    found = []
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                port = f"{port.get('host_ip', '')}:{port.get('published', '')}:{port['target']}"
            found.append((name, str(port)))
    return found


# A host address that is a variable defaulting to loopback, e.g. ${BIND_ADDRESS:-127.0.0.1}.
LOOPBACK_DEFAULT = re.compile(r"\$\{(BIND_ADDRESS|PROXY_BIND_ADDRESS):-127\.0\.0\.1\}")


@pytest.mark.parametrize(("service", "port"), _published_ports(), ids=lambda v: v)
def test_every_published_port_names_its_host_address_defaulting_to_localhost(
    service: str, port: str
) -> None:
    # "9090:9090" publishes on 0.0.0.0, and Docker's own iptables rules bypass ufw.
    assert _binds_to_a_loopback_variable(port), f"{service}: {port} names no host address"


def _binds_to_a_loopback_variable(port: str) -> bool:
    parts = port.rsplit(":", 2)
    return len(parts) == 3 and bool(LOOPBACK_DEFAULT.fullmatch(parts[0]))


@pytest.mark.parametrize("port", ["9090:9090", "0.0.0.0:9090:9090", "${BIND_ADDRESS}:9090:9090"])
def test_a_port_without_a_safe_host_address_would_be_caught(port: str) -> None:
    assert not _binds_to_a_loopback_variable(port)


@pytest.mark.parametrize(
    ("service", "local", "proxied"),
    [
        ("prometheus", "9090:9090", 9443),
        ("alertmanager", "9093:9093", 9444),
        ("grafana", "3001:3000", 3443),
        ("alert-bridge", "9095:9095", 9445),
    ],
)
def test_each_service_has_a_local_port_and_a_proxied_https_port(
    service: str, local: str, proxied: int
) -> None:
    assert f"${{BIND_ADDRESS:-127.0.0.1}}:{local}" in SERVICES[service]["ports"]
    assert f"${{PROXY_BIND_ADDRESS:-127.0.0.1}}:{proxied}:{proxied}" in SERVICES["proxy"]["ports"]
    upstream = {"alert-bridge": "alert-bridge:9095", "grafana": "grafana:3000"}.get(
        service, f"{service}:{local.split(':')[1]}"
    )
    lines = [line.strip() for line in _site(proxied).splitlines()]
    assert f"reverse_proxy {upstream}" in lines, f":{proxied} does not go to {upstream}"


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
        "proxy": ":2019/config/",
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


@pytest.mark.parametrize("product", sorted(SUPPORTED_RANGE))
def test_compose_pins_a_version_inside_the_tested_range(product: str) -> None:
    tag = SERVICES[product]["image"].rpartition(":v")[2]
    pinned = tuple(int(part) for part in tag.split("."))
    oldest, newest = SUPPORTED_RANGE[product]
    assert oldest <= pinned <= newest, f"{product} {tag} is outside {oldest}..{newest}"
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    stated = f"{product.capitalize()} {oldest[0]}.{oldest[1]} to {newest[0]}.{newest[1]}"
    assert stated in readme, f"the README does not state the range: {stated}"


def test_compose_pins_the_versions_the_stack_is_written_for() -> None:
    assert re.fullmatch(r"prom/prometheus:v3\.\d+\.\d+", SERVICES["prometheus"]["image"])
    assert re.fullmatch(r"prom/alertmanager:v0\.28\.\d+", SERVICES["alertmanager"]["image"])
    grafana = re.fullmatch(r"grafana/grafana:(\d+)\.\d+\.\d+", SERVICES["grafana"]["image"])
    # 11.x is out of support; 12 is the current major.
    assert grafana and int(grafana.group(1)) >= 12, SERVICES["grafana"]["image"]
    assert re.fullmatch(r"caddy:2\.\d+\.\d+", SERVICES["proxy"]["image"])


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


def test_grafana_admin_password_comes_from_a_secret_file() -> None:
    grafana = SERVICES["grafana"]
    env = grafana["environment"]
    assert env["GF_SECURITY_ADMIN_USER"].startswith("${GRAFANA_ADMIN_USER")
    # Grafana reads GF_<...>__FILE; the variable itself would show in `docker inspect`.
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert "grafana_admin_password" in grafana["secrets"]
    assert COMPOSE["secrets"]["grafana_admin_password"]["file"] == (
        "./secrets/grafana-admin-password"
    )


def test_alertmanager_config_is_mounted_as_a_directory() -> None:
    # A single-file bind mount keeps the old inode when an editor or `git pull` replaces
    # the file: the container would go on reading the old configuration.
    alertmanager = SERVICES["alertmanager"]
    config_flag = next(f for f in alertmanager["command"] if f.startswith("--config.file="))
    config_path = Path(config_flag.split("=", 1)[1])
    mounts = {}
    for volume in alertmanager["volumes"]:
        source, target, *_ = volume.split(":")
        mounts[target] = source
    assert mounts.get(str(config_path.parent)) == "./alertmanager", mounts
    assert (REPO_ROOT / "alertmanager" / config_path.name).is_file()
    assert not any(source.endswith(".yml") for source in mounts.values())


def test_prometheus_admin_and_lifecycle_endpoints_are_refused_by_the_proxy() -> None:
    # Enabled for scripts/backup.sh and reloads on this host; 127.0.0.1:9090 only.
    site = _site(9443)
    assert "path /api/v1/admin/* /-/*" in site
    assert re.search(r"respond @operational .* 403", site)
    assert site.index("respond @operational") < site.index("reverse_proxy")
    assert "import login" in site


@pytest.mark.parametrize("port", [9443, 9444, 3443, 9445])
def test_every_proxied_site_has_tls_and_a_login(port: int) -> None:
    site = _site(port)
    assert "import tls_config" in site
    assert "import login" in site or "basic_auth @needs_login" in site


def test_caddyfile_is_valid_for_caddy(tmp_path: Path) -> None:
    caddy = find_tool("caddy")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "MONITORING_HOST": "monitoring.example.internal",
        "PROXY_TLS": "internal",
        "HEARTBEAT_ORIGIN": "https://heartbeat.example.com",
        "HEARTBEAT_PATH": "/ping/check",
        "PROXY_USERS_FILE": str(REPO_ROOT / "secrets" / "proxy-users.example"),
    }
    result = run([caddy, "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"], env=env)
    assert result.returncode == 0, describe(result)


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
    # Links: the same .env variable as the component's own external URL.
    am_flags = SERVICES["alertmanager"]["command"]
    am_external = next(f for f in am_flags if f.startswith("--web.external-url="))
    assert am_external == f"--web.external-url={env['BRIDGE_ALERTMANAGER_EXTERNAL_URL']}"
    assert env["BRIDGE_ALERTMANAGER_EXTERNAL_URL"].startswith("${ALERTMANAGER_EXTERNAL_URL:-https")
    assert env["BRIDGE_GRAFANA_URL"] == SERVICES["grafana"]["environment"]["GF_SERVER_ROOT_URL"]
    assert env["BRIDGE_WEBHOOK_TOKEN_FILE"] == "/run/secrets/bridge_webhook_token"
    assert env["BRIDGE_API_TOKEN_FILE"] == "/run/secrets/bridge_api_token"
    assert any(v.startswith("bridge_data:/var/lib/alert-bridge") for v in bridge["volumes"])
    assert "bridge_data" in COMPOSE["volumes"]


def _with_defaults(value: str) -> str:
    """A compose value as it is with an empty .env: ${VAR:-default} becomes the default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_the_bridge_trusts_exactly_the_proxys_fixed_address() -> None:
    trusted = _with_defaults(SERVICES["alert-bridge"]["environment"]["BRIDGE_TRUSTED_PROXIES"])
    proxy = _with_defaults(SERVICES["proxy"]["networks"]["default"]["ipv4_address"])
    subnet = _with_defaults(COMPOSE["networks"]["default"]["ipam"]["config"][0]["subnet"])
    assert trusted == proxy
    assert ipaddress.ip_address(proxy) in ipaddress.ip_network(subnet)
    # The bridge reads the value the way serve would.
    assert load_settings({"BRIDGE_TRUSTED_PROXIES": trusted}).trusted_proxies == (
        ipaddress.ip_network(f"{proxy}/32"),
    )
    # Caddy's reverse_proxy sets X-Forwarded-For to the address it saw (it ignores a
    # client's own header unless told to trust it): the Caddyfile must not say so.
    assert "trusted_proxies" not in CADDYFILE.read_text(encoding="utf-8")


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


def test_env_example_holds_no_password_and_binds_to_localhost() -> None:
    lines = (REPO_ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert values["GRAFANA_ADMIN_USER"]
    assert not any("PASSWORD" in key for key in values)
    assert values["BIND_ADDRESS"] == values["PROXY_BIND_ADDRESS"] == "127.0.0.1"


def test_every_variable_compose_requires_is_in_env_example() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text(encoding="utf-8")))
    lines = (REPO_ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    shown = {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}
    assert required and required <= shown, required - shown


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


@pytest.mark.parametrize(
    ("variable", "where", "proxied"),
    [
        ("PROMETHEUS_EXTERNAL_URL", ("prometheus", "--web.external-url="), 9443),
        ("ALERTMANAGER_EXTERNAL_URL", ("alertmanager", "--web.external-url="), 9444),
        ("GRAFANA_ROOT_URL", ("grafana", "GF_SERVER_ROOT_URL"), 3443),
    ],
)
def test_external_urls_default_to_the_proxy_and_env_example_sets_them(
    variable: str, where: tuple[str, str], proxied: int
) -> None:
    # generatorURL (the "Prometheus graph" link), silence links and dashboard links are built
    # from these: they must be what people open, through the proxy.
    service, key = where
    definition = SERVICES[service]
    if key.startswith("--"):
        value = next(f for f in definition["command"] if f.startswith(key)).removeprefix(key)
    else:
        value = definition["environment"][key]
    assert value == f"${{{variable}:-https://localhost:{proxied}}}"
    lines = (REPO_ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    example = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert re.fullmatch(rf"https://[\w.-]+:{proxied}", example[variable]), example[variable]
