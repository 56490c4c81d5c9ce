"""Engines with the settings each database needs for safe concurrent use."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

# Writers queue behind each other instead of failing at once with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option for connections that only read: a deferred BEGIN on SQLite, so
# readers (WAL) never wait for writers (see read_connection).
READ_ONLY = {"bridge_read_only": True}
_LOCK_KEY = "bridge_write_lock"


def read_connection(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite it never takes (nor waits for) the write lock.

    `with read_connection(engine) as conn:`
    """
    return engine.connect().execution_options(**READ_ONLY)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, background: bool = False) -> Engine:
    """`background`: this process's SQLite writes yield to the web process's."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, background)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


# The web process answers Alertmanager (and Slack, PagerDuty, the API) after its commit:
# FULL syncs the write-ahead log at every commit, so a 200 survives an OS crash or power
# loss (NORMAL may roll the last commits back, and Alertmanager would not resend until its
# repeat_interval). Group commit (store/group_commit.py) shares one sync among the requests
# of a batch. Background writers (the delivery process) answer nobody: a commit of theirs
# lost to power loss repeats a delivery (at-least-once, idempotent keys), and the web
# process's next commit syncs the whole log, theirs included.
SYNCHRONOUS = {False: "FULL", True: "NORMAL"}


def _sqlite_engine(url: str, background: bool) -> Engine:
    parsed = make_url(url)
    synchronous = SYNCHRONOUS[background]
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
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    # Writers queue on a lock instead of SQLite's busy handler, which sleeps and
    # retries in steps of up to 100 ms and made the webhook's tail latency: a
    # thread lock for this process's threads, and flock on a file beside the
    # database for the other processes (`serve` runs deliveries in a child).
    write_lock = _WriteLock(parsed.database, background)

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


class _WriteLock:
    """Exclusive across threads (threading.Lock) and processes (flock).

    The web process writes with priority: it announces itself on an intent
    lock that background writers (the delivery process) must pass before each
    transaction, so a webhook waits for at most the one transaction in
    progress, not for a backlog of deliveries.
    """

    def __init__(self, database: str | None, background: bool) -> None:
        self._thread_lock = threading.Lock()
        self._background = background
        self._write: int | None = None
        self._intent: int | None = None
        if database and database != ":memory:" and not database.startswith("file:"):
            flags = os.O_CREAT | os.O_RDWR
            self._write = os.open(f"{database}.writelock", flags, 0o600)
            self._intent = os.open(f"{database}.intentlock", flags, 0o600)

    def acquire(self) -> None:
        self._thread_lock.acquire()
        if self._write is None or self._intent is None:
            return
        try:
            if self._background:
                fcntl.flock(self._intent, fcntl.LOCK_SH)  # wait while a priority writer waits
                try:
                    fcntl.flock(self._write, fcntl.LOCK_EX)
                finally:
                    fcntl.flock(self._intent, fcntl.LOCK_UN)
            else:
                fcntl.flock(self._intent, fcntl.LOCK_EX)
                fcntl.flock(self._write, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        if self._write is not None and self._intent is not None:
            fcntl.flock(self._write, fcntl.LOCK_UN)
            if not self._background:
                fcntl.flock(self._intent, fcntl.LOCK_UN)
        self._thread_lock.release()


# How often `serve` copies the SQLite write-ahead log back into the database.
CHECKPOINT_INTERVAL_SECONDS = 1.0


def checkpoint_in_background(engine: Engine) -> threading.Event | None:
    """SQLite: checkpoint the WAL from a thread instead of inside commits.

    By default the commit that crosses 1000 WAL pages copies them back and
    syncs the file while holding the write lock, which showed as the webhook's
    tail latency under load. A PASSIVE checkpoint runs beside writers. Call
    before the engine opens its first connection; returns an event that stops it.
    """
    if not is_sqlite(engine):
        return None
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:":
        return None

    @event.listens_for(engine, "connect")
    def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    stop = threading.Event()

    def _run() -> None:
        import sqlite3

        conn = sqlite3.connect(database, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            while not stop.wait(CHECKPOINT_INTERVAL_SECONDS):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    continue  # busy or locked: the next round catches up
        finally:
            conn.close()

    threading.Thread(target=_run, name="sqlite-checkpoint", daemon=True).start()
    return stop
