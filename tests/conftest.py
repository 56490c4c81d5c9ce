"""Shared fixtures: a real database (SQLite file, and PostgreSQL when reachable)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from bridge.db.engine import make_engine
from bridge.db.migrate import upgrade
from bridge.settings import Settings, load_settings
from bridge.store import Store

POSTGRES_URL = os.environ.get("BRIDGE_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("BRIDGE_REQUIRE_POSTGRES") == "1"

# The version matrix of the real-peer tests: the `peer_versions` fixture, the report header.
pytest_plugins = ["tests.support.peer_plugin"]


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """A database of this test session's own, so parallel runs never share tables."""
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("BRIDGE_TEST_POSTGRES_URL is unset but PostgreSQL tests are required")
        pytest.skip("PostgreSQL not configured (BRIDGE_TEST_POSTGRES_URL)")
    name = f"bridge_test_{os.getpid()}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """An empty database of each kind the bridge supports, migrated by the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/bridge.db"
        return
    url: str = request.getfixturevalue("postgres_session_url")
    engine = make_engine(url)
    _reset_postgres(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def settings(db_url: str, tmp_path: os.PathLike[str]) -> Settings:
    base = load_settings({"BRIDGE_STATE_DIR": str(tmp_path)})
    return replace(base, database_url=db_url, retry_base_seconds=0.05, retry_max_seconds=0.5)
