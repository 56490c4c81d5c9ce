"""Migrations: the only way the schema changes, safe when replicas start together."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, inspect

from bridge.db.engine import make_engine
from bridge.db.migrate import at_head, current_revision, head_revision, upgrade
from bridge.db.models import Base


def test_replicas_upgrading_one_empty_database_at_once_all_succeed(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        # SQLite serves one process: serve migrates before it starts its delivery process.
        pytest.skip("replicas share PostgreSQL, not SQLite")
    errors: list[str] = []

    def start_replica() -> None:
        engine = make_engine(db_url)
        try:
            upgrade(engine)
        except Exception as exc:  # what a replica would die of at start
            errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
        finally:
            engine.dispose()

    replicas = [threading.Thread(target=start_replica) for _ in range(4)]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(timeout=120)
    assert not any(r.is_alive() for r in replicas), "a replica hung in its migration"
    assert errors == []
    engine = make_engine(db_url)
    assert at_head(engine)
    engine.dispose()


def test_migrations_build_exactly_the_models_schema(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)
