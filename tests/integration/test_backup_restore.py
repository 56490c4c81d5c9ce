"""scripts/backup.sh and scripts/restore.sh against real processes: a Prometheus with the
admin API (TSDB snapshot), Alertmanager (silences out, and into a fresh Alertmanager), a
Grafana-style SQLite database, and the bridge's database on SQLite and PostgreSQL. After
losing the originals, the restored state is read back through each component."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, text

from bridge.db.engine import make_engine
from bridge.settings import Settings
from bridge.store import Store
from tests.support.bridge_app import make_app
from tests.support.bridge_app import post_alerts as post
from tests.support.payloads import alert, payload
from tests.support.peers import PeerVersions
from tests.support.procs import REPO_ROOT, Proc, free_port, require_binary, wait_until
from tests.support.stack_procs import prom_query, start_alertmanager, start_prometheus

BACKUP = REPO_ROOT / "scripts" / "backup.sh"
RESTORE = REPO_ROOT / "scripts" / "restore.sh"
# The containers' users (docker-compose.yml images): restored files must stay theirs.
BRIDGE_UID = 10001
GRAFANA_UID = 472
SCRIPT_TIMEOUT_S = 120

AM_CONFIG = "route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n"


def _prometheus_config(directory: Path, port: int) -> Path:
    directory.mkdir()
    (directory / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: prometheus\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
    return directory


def _silence(am_url: str, comment: str, ends_in: timedelta) -> str:
    now = datetime.now(UTC)
    body = {
        "matchers": [{"name": "node", "value": "dgx-spark-01", "isRegex": False, "isEqual": True}],
        "startsAt": now.isoformat(),
        "endsAt": (now + ends_in).isoformat(),
        "createdBy": "backup test",
        "comment": comment,
    }
    response = requests.post(f"{am_url}/api/v2/silences", json=body, timeout=10)
    response.raise_for_status()
    silence_id: str = response.json()["silenceID"]
    return silence_id


def _grafana_db(directory: Path) -> Path:
    directory.mkdir()
    db = directory / "grafana.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE dashboard (uid TEXT, title TEXT)")
        conn.execute("INSERT INTO dashboard VALUES ('dgx-spark-overview', 'DGX Spark overview')")
    conn.close()
    os.chown(directory, GRAFANA_UID, GRAFANA_UID)
    os.chown(db, GRAFANA_UID, GRAFANA_UID)
    return db


def _run(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _lose_bridge_database(db_url: str, engine: Engine) -> None:
    """What a failed disk or a bad migration leaves: no usable bridge data."""
    engine.dispose()
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).write_bytes(b"")  # same file, same owner
        return
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


def _series_at(prom: Proc, when: float) -> list[dict[str, Any]]:
    response = requests.get(
        f"{prom.url}/api/v1/query",
        params={"query": 'up{job="prometheus"}', "time": f"{when:.3f}"},
        timeout=10,
    )
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


@pytest.fixture
def root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("the restore keeps the containers' file owners: needs root, as on the host")
    for tool in ("sqlite3", "jq", "curl", "pg_dump", "pg_restore"):
        require_binary(tool)


def test_backup_then_restore_brings_back_every_component(
    root_only: None,
    settings: Settings,
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    peer_versions: PeerVersions,
) -> None:
    # Both ends of the range: the compose file runs newer Prometheus/Alertmanager than Debian's.
    peers = peer_versions
    prom_port, am_port = free_port(), free_port()
    config = _prometheus_config(tmp_path / "prometheus-config", prom_port)
    prom = start_prometheus(config, tmp_path, prom_port, ["--web.enable-admin-api"], peers=peers)
    am = start_alertmanager(_write(tmp_path / "am.yml", AM_CONFIG), tmp_path, am_port, peers=peers)
    with prom, am:
        scraped = wait_until(
            lambda: prom_query(prom.url, 'up{job="prometheus"}')["result"],
            timeout=60,
            what="Prometheus scraping itself",
            procs=[prom],
        )
        assert scraped
        before_backup = time.time()
        kept = _silence(am.url, "maintenance: re-cabling", timedelta(hours=4))
        expired = _silence(am.url, "already over", timedelta(hours=1))
        requests.delete(f"{am.url}/api/v2/silence/{expired}", timeout=10).raise_for_status()

        grafana_db = _grafana_db(tmp_path / "grafana")
        app = make_app(settings, engine)
        post(app, payload(alert(fingerprint="fp-backup")))
        if db_url.startswith("sqlite:///"):
            os.chown(db_url.removeprefix("sqlite:///"), BRIDGE_UID, BRIDGE_UID)

        env = {
            "BACKUP_DIR": str(tmp_path / "backup"),
            "PROMETHEUS_URL": prom.url,
            "PROMETHEUS_DATA_DIR": str(tmp_path / "prometheus-data"),
            "ALERTMANAGER_URL": am.url,
            "GRAFANA_DATA_DIR": str(grafana_db.parent),
            "GRAFANA_URL": f"http://127.0.0.1:{free_port()}",
            "BRIDGE_DATABASE_URL": db_url,
            "BRIDGE_URL": f"http://127.0.0.1:{free_port()}",
        }
        out = _ok(_run(BACKUP, env=env))
        (backup,) = (tmp_path / "backup").iterdir()
        assert f"backup: {env['BACKUP_DIR']}/{backup.name}" in out
        assert backup.stat().st_mode & 0o777 == 0o700
        assert not list((tmp_path / "prometheus-data" / "snapshots").iterdir()), "snapshot left"
        silences = json.loads((backup / "silences.json").read_text())
        assert [s["id"] for s in silences] == [kept]

        refused = _run(RESTORE, str(backup), "prometheus", env=env)
        assert refused.returncode != 0 and "stop it first" in refused.stderr

    # Everything is lost: Prometheus's data, the bridge database, Grafana's database and
    # Alertmanager with its silences (a new one starts empty).
    shutil.rmtree(tmp_path / "prometheus-data")
    (tmp_path / "prometheus-data").mkdir()
    _lose_bridge_database(db_url, engine)
    grafana_db.write_bytes(b"")
    new_am = start_alertmanager(
        _write(tmp_path / "am.yml", AM_CONFIG),
        tmp_path,
        free_port(),
        name="alertmanager-new",
        peers=peers,
    )
    with new_am:
        _ok(_run(RESTORE, str(backup), env={**env, "ALERTMANAGER_URL": new_am.url}))
        restored = requests.get(f"{new_am.url}/api/v2/silences", timeout=10).json()
    assert [(s["comment"], s["status"]["state"]) for s in restored] == [
        ("maintenance: re-cabling", "active")
    ]
    assert restored[0]["matchers"][0]["value"] == "dgx-spark-01"

    with sqlite3.connect(grafana_db) as conn:
        assert conn.execute("SELECT title FROM dashboard").fetchall() == [("DGX Spark overview",)]
    conn.close()
    assert (grafana_db.stat().st_uid, grafana_db.stat().st_gid) == (GRAFANA_UID, GRAFANA_UID)

    fresh = make_engine(db_url)
    try:
        alerts = Store(fresh).list_alerts()
        assert [a["fingerprint"] for a in alerts] == ["fp-backup"]
    finally:
        fresh.dispose()
    if db_url.startswith("sqlite:///"):
        restored_db = Path(db_url.removeprefix("sqlite:///"))
        assert restored_db.stat().st_uid == BRIDGE_UID, "the bridge could no longer write it"

    with start_prometheus(config, tmp_path, free_port(), peers=peers) as prom_again:
        series = _series_at(prom_again, before_backup)
        assert [s["metric"]["job"] for s in series] == ["prometheus"]


def test_restore_refuses_a_folder_that_is_no_backup(tmp_path: Path) -> None:
    result = _run(RESTORE, str(tmp_path), env={})
    assert result.returncode != 0
    assert "is not a backup made by backup.sh" in result.stderr


def test_backup_refuses_an_unknown_component(tmp_path: Path) -> None:
    result = _run(BACKUP, "grafna", env={"BACKUP_DIR": str(tmp_path / "b")})
    assert result.returncode != 0
    assert "unknown component grafna" in result.stderr
    assert not (tmp_path / "b").exists()


def _write(path: Path, content: str) -> Path:
    path.write_text(content)
    return path


def test_backups_are_ignored_by_git() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "backup/20260101T021500Z/bridge.db"],
        cwd=REPO_ROOT,
        timeout=30,
        check=False,
    )
    assert ignored.returncode == 0, "backup/ would be committed"
