"""Alembic environment: the connection comes from the bridge (see bridge/db/migrate.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine

from bridge.db.models import Base

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


given = config.attributes.get("connection")
if isinstance(given, Connection):
    run(given)
else:
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        # Plain `alembic` command line: build the engine from the bridge settings.
        from bridge.db.engine import make_engine
        from bridge.settings import load_settings

        engine = make_engine(load_settings().database_url)
    with engine.connect() as connection:
        run(connection)
