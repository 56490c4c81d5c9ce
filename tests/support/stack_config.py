"""Test copies of the project's own Prometheus and Alertmanager configuration."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.support.procs import REPO_ROOT

# -- test copies of the project's own configuration --------------------------------------------
#
# Tests run the repository's prometheus.yml, rules and alertmanager.yml, not hand-written
# stand-ins. These helpers copy them and change only what a test must: addresses (compose
# service names do not resolve here), intervals and `for:` durations (minutes are too slow),
# secrets (files that only exist in deployment).

PROMETHEUS_DIR = REPO_ROOT / "prometheus"
ALERTMANAGER_CONFIG = REPO_ROOT / "alertmanager" / "alertmanager.yml"
TEST_WEBHOOK_TOKEN = "test-webhook-token"


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dump_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def prometheus_test_config(
    dest_dir: Path,
    targets_dir: Path,
    *,
    prometheus_port: int,
    alertmanager_ports: Sequence[int],
    static_targets: dict[str, str] | None = None,
    interval: str = "1s",
    rule_for: str = "5s",
    src_dir: Path = PROMETHEUS_DIR,
) -> Path:
    """Copy `prometheus/` to `dest_dir`, ready to scrape the simulator; returns `dest_dir`.

    - `targets/` is replaced by `targets_dir` (the simulator's `--write-targets`);
    - scrape and evaluation intervals become `interval`, every `for:` becomes `rule_for`
      (range windows such as `[10m]` stay: they only need enough history, not wall time);
    - Alertmanager is `alertmanager_ports` on 127.0.0.1;
    - static jobs are pointed at `static_targets[job]` ("host:port"); the `prometheus` and
      `alertmanager` jobs default to the test instances; any other static job is dropped,
      as its compose host name does not resolve here.
    """
    shutil.copytree(src_dir, dest_dir, ignore=shutil.ignore_patterns("targets", "tests"))
    shutil.copytree(targets_dir, dest_dir / "targets")
    addresses = {
        "prometheus": f"127.0.0.1:{prometheus_port}",
        "alertmanager": f"127.0.0.1:{alertmanager_ports[0]}",
        **(static_targets or {}),
    }

    config_path = dest_dir / "prometheus.yml"
    config = _load_yaml(config_path)
    glob = config.setdefault("global", {})
    glob.update(scrape_interval=interval, evaluation_interval=interval, scrape_timeout=interval)
    config["alerting"] = {
        "alertmanagers": [
            {"static_configs": [{"targets": [f"127.0.0.1:{p}" for p in alertmanager_ports]}]}
        ]
    }
    jobs = []
    for job in config.get("scrape_configs", []):
        for key in ("scrape_interval", "scrape_timeout"):
            if key in job:
                job[key] = interval
        if "static_configs" in job:
            address = addresses.get(job["job_name"])
            if address is None:
                continue
            job["static_configs"] = [{"targets": [address]}]
        jobs.append(job)
    config["scrape_configs"] = jobs
    _dump_yaml(config_path, config)

    for rule_file in (dest_dir / "rules").glob("*.yml"):
        rules = _load_yaml(rule_file)
        for group in rules.get("groups", []):
            if "interval" in group:
                group["interval"] = interval
            for rule in group.get("rules", []):
                if "for" in rule:
                    rule["for"] = rule_for
                if "keep_firing_for" in rule:
                    rule["keep_firing_for"] = interval
        _dump_yaml(rule_file, rules)
    return dest_dir


@dataclass(frozen=True)
class AlertmanagerTestConfig:
    path: Path
    token: str  # what Alertmanager sends as `Authorization: Bearer ...` to webhooks


def alertmanager_test_config(
    dest_dir: Path,
    *,
    webhook_base_url: str,
    token: str = TEST_WEBHOOK_TOKEN,
    group_wait: str = "1s",
    group_interval: str = "2s",
    repeat_interval: str | None = None,
    src_file: Path = ALERTMANAGER_CONFIG,
) -> AlertmanagerTestConfig:
    """Copy `alertmanager/` to `dest_dir` with every outbound URL sent to `webhook_base_url`.

    Webhook URLs keep their path (`/webhook/alertmanager` still reaches a real bridge);
    PagerDuty and Slack receivers post to `<base>/pagerduty/<receiver>` and
    `<base>/slack/<receiver>`. Every `*_file` secret is replaced by a file in `dest_dir`
    (bearer credentials hold `token`), and group timings are shortened on every route.
    """
    shutil.copytree(src_file.parent, dest_dir, ignore=shutil.ignore_patterns("tests"))
    config_path = dest_dir / src_file.name
    config = _load_yaml(config_path)
    secrets = dest_dir / "secrets"
    secrets.mkdir(exist_ok=True)
    base = webhook_base_url.rstrip("/")

    def secret(name: str, content: str) -> str:
        path = secrets / name
        path.write_text(content, encoding="utf-8")
        return str(path)

    glob = config.setdefault("global", {})
    for key in list(glob):
        if key.endswith("_url"):
            glob[key] = f"{base}/{key}"
        elif key.endswith("_file"):
            url_secret = key.removesuffix("_file").endswith("_url")
            glob[key] = secret(f"global-{key}", f"{base}/{key}" if url_secret else token)

    for receiver in config.get("receivers", []):
        name = receiver["name"]
        for kind, entries in receiver.items():
            if not kind.endswith("_configs"):
                continue
            for index, entry in enumerate(entries):
                _redirect_receiver(entry, kind, name, base, token, f"{name}-{kind}-{index}", secret)

    def shorten(route: dict[str, Any], root: bool) -> None:
        if root or "group_wait" in route:
            route["group_wait"] = group_wait
        if root or "group_interval" in route:
            route["group_interval"] = group_interval
        if repeat_interval is not None and (root or "repeat_interval" in route):
            route["repeat_interval"] = repeat_interval
        for child in route.get("routes", []):
            shorten(child, root=False)

    shorten(config["route"], root=True)
    _dump_yaml(config_path, config)
    return AlertmanagerTestConfig(config_path, token)


def _redirect_receiver(
    entry: dict[str, Any],
    kind: str,
    receiver: str,
    base: str,
    token: str,
    tag: str,
    secret: Callable[[str, str], str],
) -> None:
    if kind == "webhook_configs":
        path = urlsplit(entry.get("url", "")).path or "/"
        entry["url"] = f"{base}{path}"
        entry.pop("url_file", None)
    else:
        # PagerDuty's `url` and Slack's `api_url` are their API endpoints.
        key = "api_url" if kind == "slack_configs" or "api_url" in entry else "url"
        entry[key] = f"{base}/{kind.removesuffix('_configs')}/{receiver}"
        entry.pop(f"{key}_file", None)
    for key in list(entry):
        if key.endswith("_file"):
            entry[key] = secret(f"{tag}-{key}", token)
    http_config = entry.get("http_config")
    if not isinstance(http_config, dict):
        return
    http_config.pop("tls_config", None)  # the test receivers speak plain HTTP
    for auth_key in ("authorization", "basic_auth", "oauth2"):
        auth = http_config.get(auth_key)
        if isinstance(auth, dict):
            for key in list(auth):
                if key.endswith("_file"):
                    auth[key] = secret(f"{tag}-{auth_key}-{key}", token)
