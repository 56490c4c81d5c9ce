"""node-scripts/: the exporter installer (shellcheck, a harmless dry run), the DCGM counters
CSV, the Spark metrics properties and the vLLM note."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from tests.stack.helpers import (
    NODE_SCRIPTS,
    PROMETHEUS_DIR,
    RULE_FILES,
    describe,
    find_tool,
    load_yaml,
    run,
)

SCRIPT = NODE_SCRIPTS / "setup-exporters.sh"
COUNTERS = NODE_SCRIPTS / "dcgm-counters.csv"

# Commands that change a system. The dry run may show them, never run them.
MUTATING = [
    "install",
    "apt-get",
    "systemctl",
    "ufw",
    "iptables",
    "ip6tables",
    "netfilter-persistent",
    "docker",
]


def _counters() -> dict[str, tuple[str, str]]:
    fields: dict[str, tuple[str, str]] = {}
    for line in COUNTERS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, kind, help_text = (part.strip() for part in line.split(",", 2))
        assert name not in fields, f"{name} listed twice"
        fields[name] = (kind, help_text)
    return fields


def test_shell_scripts_pass_shellcheck() -> None:
    shellcheck = find_tool("shellcheck")
    scripts = sorted(NODE_SCRIPTS.glob("*.sh"))
    assert scripts
    result = run([shellcheck, "--severity=style", *map(str, scripts)])
    assert result.returncode == 0, describe(result)


def test_shellcheck_would_catch_a_bad_script(tmp_path: Path) -> None:
    shellcheck = find_tool("shellcheck")
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/bash\nrm -rf $1/*\n")
    assert run([shellcheck, str(bad)]).returncode != 0


def test_dry_run_prints_a_plan_on_this_machine() -> None:
    env = {**os.environ, "PROMETHEUS_SERVER_IP": "192.0.2.10"}
    result = run(["bash", str(SCRIPT), "--dry-run"], env=env)
    assert result.returncode == 0, describe(result)
    out = result.stdout
    assert "DRY RUN" in out
    assert "would run" in out or "up to date" in out
    assert "== Summary" in out
    for step in ("NVIDIA driver", "DCGM exporter", "Node exporter", "Firewall"):
        assert step in out, f"the plan does not mention {step}"


def _stub_bin(tmp_path: Path) -> tuple[Path, Path]:
    """A PATH directory whose mutating commands only record that they were called."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for name in [*MUTATING, "nvidia-smi", "dpkg-query", "curl"]:
        stub = bin_dir / name
        body = f'#!/bin/sh\necho "{name} $*" >> "{log}"\n'
        if name == "nvidia-smi":
            body += 'echo "0, NVIDIA GB10, 580.95.05"\n'
        else:
            body += "exit 1\n"  # docker info, dpkg-query, ufw status: "not there"
        stub.write_text(body)
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir, log


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    bin_dir, log = _stub_bin(tmp_path)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PROMETHEUS_SERVER_IP": "192.0.2.10",
    }
    result = run(["bash", str(SCRIPT), "--dry-run"], env=env)
    assert result.returncode == 0, describe(result)
    calls = log.read_text().splitlines() if log.exists() else []
    forbidden = [
        call
        for call in calls
        if re.match(
            r"(install|apt-get|ip6?tables -[IADNF]|ufw allow|netfilter-persistent save"
            r"|systemctl (enable|start|restart)"
            r"|docker (run|pull|rm|stop|start))\b",
            call,
        )
    ]
    assert not forbidden, f"the dry run executed: {forbidden}"
    # ... while the plan shows every change a real run would make.
    out = result.stdout
    assert "would run: install -D -m 0644" in out
    assert re.search(
        r"would run: docker run .*--collectors /etc/dcgm-exporter/dcgm-counters\.csv", out
    )
    assert "--network host" in out, "published ports would bypass the host firewall"
    assert "--xid-count-window-size" in out
    assert "apt-get install" in out and "prometheus-node-exporter" in out
    assert "nvidia-smi --query-gpu" in " ".join(calls), "the driver check did not run nvidia-smi"


def _plan(tmp_path: Path, *args: str, stubs: dict[str, str] | None = None, **env: str) -> str:
    """The dry run's plan on a node with the given command stubs (name -> shell body)."""
    bin_dir, _log = _stub_bin(tmp_path)
    for name, body in (stubs or {}).items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    if "netfilter-persistent" not in (stubs or {}):
        (bin_dir / "netfilter-persistent").unlink()  # not installed yet
    full_env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PROMETHEUS_SERVER_IP": "192.0.2.10",
        **env,
    }
    result = run(["bash", str(SCRIPT), "--dry-run", *args], env=full_env)
    assert result.returncode == 0, describe(result)
    return result.stdout


def test_without_ufw_both_ip_families_are_filtered_and_the_rules_survive_a_reboot(
    tmp_path: Path,
) -> None:
    out = _plan(tmp_path)
    ports = r"--dports 9100\,9400 -j DGX-EXPORTERS"  # as the plan prints it (printf %q)
    for tool in ("iptables", "ip6tables"):
        assert f"would run: {tool} -I INPUT 1 -p tcp -m multiport {ports}" in out
        assert f"would run: {tool} -A DGX-EXPORTERS -i lo -j ACCEPT" in out
        assert f"would run: {tool} -A DGX-EXPORTERS -j DROP" in out
    assert "would run: iptables -A DGX-EXPORTERS -s 192.0.2.10 -j ACCEPT" in out
    # No IPv6 scraper given: IPv6 reaches the exporters from loopback only.
    assert "ip6tables -A DGX-EXPORTERS -s" not in out
    assert "apt-get install -y -qq iptables-persistent" in out
    assert "would run: netfilter-persistent save" in out


def test_an_ipv6_prometheus_server_is_allowed_over_ipv6(tmp_path: Path) -> None:
    out = _plan(tmp_path, "--prometheus-server-ip6", "2001:db8::10")
    assert "would run: ip6tables -A DGX-EXPORTERS -s 2001:db8::10 -j ACCEPT" in out


def test_local_scrape_allows_the_stacks_docker_network_found_by_docker(tmp_path: Path) -> None:
    # The stack on this node scrapes it from its compose network, not from the host address.
    docker = 'case "$*" in "network inspect"*) echo "172.20.0.0/16 ";; *) exit 1;; esac'
    out = _plan(tmp_path, "--local-scrape", stubs={"docker": docker})
    assert "would run: iptables -A DGX-EXPORTERS -s 172.20.0.0/16 -j ACCEPT" in out
    assert out.index("-s 172.20.0.0/16 -j ACCEPT") < out.index("iptables -A DGX-EXPORTERS -j DROP")


def test_with_ufw_active_the_local_network_and_ipv6_server_get_rules(tmp_path: Path) -> None:
    ufw = 'case "$1" in status) echo "Status: active";; *) exit 0;; esac'
    out = _plan(
        tmp_path,
        "--prometheus-server-ip6=2001:db8::10",
        stubs={"ufw": ufw},
        LOCAL_SCRAPE_SUBNET="172.18.0.0/16",
    )
    for source in ("192.0.2.10", "172.18.0.0/16", "2001:db8::10"):
        for port in (9100, 9400):
            assert (
                f"would run: ufw allow proto tcp from {source} to any port {port} comment " in out
            )
    assert "iptables" not in out


def test_a_bad_prometheus_address_is_refused() -> None:
    env = {**os.environ, "PROMETHEUS_SERVER_IP": "300.1.1.1"}
    result = run(["bash", str(SCRIPT), "--dry-run"], env=env)
    assert result.returncode != 0
    assert "PROMETHEUS_SERVER_IP" in result.stderr


def test_unknown_arguments_are_refused() -> None:
    result = run(["bash", str(SCRIPT), "--frobnicate"])
    assert result.returncode != 0
    assert "unknown argument" in result.stderr


def test_help_describes_the_options() -> None:
    result = run(["bash", str(SCRIPT), "--help"])
    assert result.returncode == 0
    for option in (
        "--dry-run",
        "PROMETHEUS_SERVER_IP",
        "--prometheus-server-ip6",
        "--local-scrape",
        "LOCAL_SCRAPE_SUBNET",
        "--skip-firewall",
    ):
        assert option in result.stdout


def test_the_exporter_image_is_pinned() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    image = re.search(r'DEFAULT_DCGM_EXPORTER_IMAGE="([^"]+)"', text)
    assert image, "no pinned DCGM exporter image"
    assert re.fullmatch(
        r"nvcr\.io/nvidia/k8s/dcgm-exporter:\d+\.\d+\.\d+-\d+\.\d+\.\d+-[\w.]+", image.group(1)
    )


# ------------------------------------------------------------------ counters CSV


def test_counters_csv_is_in_dcgm_exporter_format() -> None:
    fields = _counters()
    assert fields
    for name, (kind, help_text) in fields.items():
        assert re.fullmatch(r"DCGM_(FI|EXP)_[A-Z0-9_]+", name), name
        assert kind in {"gauge", "counter", "label"}, f"{name}: {kind}"
        assert help_text, name


def test_counters_csv_enables_the_fields_the_alerts_prefer() -> None:
    fields = _counters()
    for name in (
        "DCGM_EXP_XID_ERRORS_COUNT",
        "DCGM_EXP_CLOCK_EVENTS_COUNT",
        "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
        "DCGM_FI_DEV_XID_ERRORS",
    ):
        assert name in fields, name


def test_counters_csv_enables_every_dcgm_metric_the_rules_use() -> None:
    used = {
        m
        for path in RULE_FILES
        for m in re.findall(r"DCGM_(?:FI|EXP)_[A-Z0-9_]+", path.read_text())
    }
    missing = sorted(used - set(_counters()))
    assert not missing, f"rules depend on metrics the exporter is not told to collect: {missing}"


@pytest.mark.parametrize(
    "metric",
    [
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_MEM_COPY_UTIL",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_FB_FREE",
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_SM_CLOCK",
        "DCGM_FI_DEV_MEM_CLOCK",
        "DCGM_FI_DEV_PCIE_TX_THROUGHPUT",
        "DCGM_FI_DEV_PCIE_RX_THROUGHPUT",
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
    ],
)
def test_counters_csv_has_the_seed_metric(metric: str) -> None:
    assert metric in _counters()


# ------------------------------------------------------------------ Spark and vLLM


def test_spark_properties_use_the_prometheus_servlet_prometheus_scrapes() -> None:
    text = (NODE_SCRIPTS / "spark-metrics.properties").read_text(encoding="utf-8")
    settings = dict(
        line.split("=", 1)
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert (
        settings["*.sink.prometheusServlet.class"]
        == "org.apache.spark.metrics.sink.PrometheusServlet"
    )
    path = settings["*.sink.prometheusServlet.path"]
    jobs = {
        j["job_name"]: j for j in load_yaml(PROMETHEUS_DIR / "prometheus.yml")["scrape_configs"]
    }
    assert jobs["spark"]["metrics_path"] == path
    assert "spark.metrics.namespace" in text


def test_vllm_note_explains_the_metrics_endpoint() -> None:
    text = (NODE_SCRIPTS / "enable-vllm-metrics.md").read_text(encoding="utf-8")
    assert "8000" in text and "/metrics" in text
    assert "vllm-targets.yml" in text
