"""Read-only sessions for reports: every section of a report sees the same snapshot, and
on SQLite a deferred transaction, so a long report never holds the write lock (the
core's sessions begin IMMEDIATE to serialise writers)."""

from __future__ import annotations

import weakref

from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from engine.db import Database, register_sqlite_functions

# One reading engine per Database, dropped with it.
_readers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA query_only=ON")
    cur.close()
    register_sqlite_functions(dbapi_conn)


def _begin(conn):
    conn.exec_driver_sql("BEGIN")  # deferred: a read snapshot under WAL, no write lock


def read_session(database: Database) -> Session:
    """Return a session for reading only, one snapshot for the whole report."""
    if database.dialect != "sqlite":
        return Session(bind=database.engine.execution_options(isolation_level="REPEATABLE READ"))
    if database not in _readers:
        engine = create_engine(
            database.config.database_url, connect_args={"isolation_level": None, "check_same_thread": False}
        )
        event.listen(engine, "connect", _pragmas)
        event.listen(engine, "begin", _begin)
        _readers[database] = sessionmaker(engine)
    return _readers[database]()
