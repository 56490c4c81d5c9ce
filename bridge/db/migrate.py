"""Alembic, driven from code: `alert-bridge db upgrade|current` and `serve` at start."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from bridge.db.engine import read_connection


def migrations_dir() -> Path:
    """`migrations/` beside the package, or `BRIDGE_MIGRATIONS_DIR` for other layouts."""
    configured = os.environ.get("BRIDGE_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["engine"] = engine
    return config


# Any constant: the key of the PostgreSQL advisory lock that serialises migrations.
MIGRATION_LOCK_KEY = 7_243_001


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations; replicas starting together take turns (PostgreSQL advisory lock)."""
    with engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()
        try:
            config = alembic_config(engine)
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
        finally:
            if postgres:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config_without_engine())
    return script.get_current_head()


def alembic_config_without_engine() -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def current_revision(engine: Engine) -> str | None:
    with read_connection(engine) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def at_head(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
