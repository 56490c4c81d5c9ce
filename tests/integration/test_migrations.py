"""Migrations: the only way the schema changes, safe when replicas start together."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, Table, inspect, text

from bridge.db.engine import make_engine
from bridge.db.migrate import alembic_config, at_head, current_revision, head_revision, upgrade
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


def test_migrations_leave_no_difference_from_the_models(engine: Engine) -> None:
    """Columns, types, nullability and indexes: what autogenerate would add or drop."""
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []


def test_the_queue_indexes_are_partial(engine: Engine) -> None:
    # Partial indexes keep every claim off a scan of the finished history.
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("deliveries")}
    for name in ("ix_deliveries_pending", "ix_deliveries_in_flight", "ix_deliveries_dead"):
        assert name in indexes
        where = indexes[name]["dialect_options"]
        assert any("status" in str(v) for k, v in where.items() if k.endswith("_where")), where


def _fill_required(table: Table) -> dict[str, object]:
    """A value for every column an INSERT must name (not null, no default)."""
    now = datetime(2026, 11, 28, 20, 0)
    by_type = {
        "INTEGER": 1,
        "SMALLINT": 0,
        "BOOLEAN": False,
        "DATETIME": now,
        "TIMESTAMP": now,
        "JSON": "{}",
    }
    values: dict[str, object] = {}
    for column in table.columns:
        if column.nullable or column.server_default is not None or column.primary_key:
            continue
        kind = type(column.type).__name__.upper()
        values[column.name] = next((v for k, v in by_type.items() if k in kind), "x")
    return values


def test_an_outbox_from_before_the_storm_lane_upgrades_and_downgrades_with_its_rows(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0004")
        tables = MetaData()
        tables.reflect(engine, only=["alerts", "deliveries"])
        alerts, deliveries = tables.tables["alerts"], tables.tables["deliveries"]
        with engine.begin() as conn:
            alert_id = conn.execute(
                alerts.insert().values(_fill_required(alerts)).returning(alerts.c.id)
            ).scalar_one()
            row = _fill_required(deliveries) | {"alert_id": alert_id, "status": "pending"}
            conn.execute(deliveries.insert().values(row))

        upgrade(engine)
        with engine.connect() as conn:
            lanes = conn.execute(text("SELECT priority FROM deliveries")).scalars().all()
        assert lanes == [0]  # the normal lane

        config = alembic_config(engine)
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0004")
        assert current_revision(engine) == "0004"
        assert "priority" not in {c["name"] for c in inspect(engine).get_columns("deliveries")}
        upgrade(engine)
        assert at_head(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM deliveries")).scalar_one() == 1
    finally:
        engine.dispose()
