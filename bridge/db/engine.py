"""Engines with the settings each database needs for safe concurrent use."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

# Writers queue behind each other instead of failing at once with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option for connections that only read: a deferred BEGIN on SQLite, so
# readers (WAL) never wait for writers. `with engine.connect().execution_options(
# **READ_ONLY) as conn:`
READ_ONLY = {"bridge_read_only": True}
_LOCK_KEY = "bridge_write_lock"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    # Threads of one process queue on this lock; SQLite's own busy handler
    # (sleep-and-retry, up to 100 ms a step) is left for other processes only,
    # which keeps the webhook's tail latency short under load.
    write_lock = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("bridge_read_only"):
            conn.exec_driver_sql("BEGIN")
            return
        # Take the write lock at BEGIN: a read-then-write transaction that
        # upgrades later can fail with SQLITE_BUSY without waiting, and two
        # processes deciding on the same alert must serialise.
        write_lock.acquire()
        conn.info[_LOCK_KEY] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            conn.info.pop(_LOCK_KEY, None)
            write_lock.release()
            raise

    def _end(conn: Any, sql: str) -> None:
        if not conn.info.pop(_LOCK_KEY, None):
            return
        # End the transaction here, then let the next writer in; pysqlite's own
        # commit()/rollback() that follows finds no transaction and does nothing.
        try:
            conn.exec_driver_sql(sql)
        finally:
            write_lock.release()

    event.listen(engine, "commit", lambda conn: _end(conn, "COMMIT"))
    event.listen(engine, "rollback", lambda conn: _end(conn, "ROLLBACK"))
    return engine
