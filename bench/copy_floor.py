"""The bulk-write floor of a processed run: how long writing the same rows takes in bulk.

`written_tables(before, after)` names the tables a run added rows to (row counts before and
after); `copy_floor(url, tables)` reads every row of those tables from the run's database
(not timed) and writes them again into empty copies of the tables (same columns, defaults,
constraints and indexes; no foreign keys) in one transaction, timed from the first row to
the commit:
- PostgreSQL: a scratch schema, `CREATE TABLE ... (LIKE ... INCLUDING ALL)`, one
  `COPY ... FROM STDIN` per table (the rows as PostgreSQL's own COPY text, read with
  `COPY ... TO STDOUT`);
- SQLite: a scratch database file (WAL, synchronous=NORMAL, as the app's), the tables and
  indexes from `sqlite_master`, one `executemany` INSERT per table (SQLite has no COPY).
The scratch schema or file is removed afterwards.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

# Rows the run did not write through processing: the input events (ingestion writes them;
# processing only marks them), the envelopes whose id was taken, the schema version.
NOT_PROCESSING = {"events", "event_conflicts", "alembic_version"}


def table_counts(url: str) -> dict[str, int]:
    """Rows in every table of the database at `url`.

    SQLite's full-text index keeps its own shadow tables (`clients_fts_data`, ...): their
    rows are index segments, whose number depends on where transactions commit, not rows
    of the app, so they are left out."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        names = sorted(inspect(engine).get_table_names())
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                virtual = [
                    n
                    for (n,) in conn.execute(
                        text("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%'")
                    )
                ]
            names = [n for n in names if n in virtual or not _is_virtual(n, virtual)]
        with engine.connect() as conn:
            return {n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}
    finally:
        engine.dispose()


def written_tables(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """The tables that gained rows between two `table_counts`, less the input's own.

    `clients` counts: ingestion creates a bare row per new client, processing then writes
    every column of it (status, KYC, funnel, search text), so the whole row is its work."""
    return sorted(n for n, count in after.items() if count > before.get(n, 0) and n not in NOT_PROCESSING)


def copy_floor(url: str, tables: list[str]) -> dict:
    """Write every row of `tables` again in bulk; return the rows and the seconds it took."""
    if url.startswith("sqlite"):
        rows, seconds = _sqlite_floor(Path(url.split("///", 1)[1]), tables)
        method = "SQLite: one executemany INSERT per table into a scratch database (WAL), one commit"
    else:
        rows, seconds = _postgres_floor(url, tables)
        method = "PostgreSQL: one COPY FROM STDIN per table into a scratch schema (LIKE INCLUDING ALL), one commit"
    return {
        "tables": len(rows),
        "rows": sum(rows.values()),
        "rows_by_table": rows,
        "seconds": round(seconds, 4),
        "method": method,
    }


def _postgres_floor(url: str, tables: list[str]) -> tuple[dict[str, int], float]:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    scratch = f"copy_floor_{uuid.uuid4().hex[:8]}"
    data: dict[str, list[bytes]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in tables:
            with conn.cursor().copy(f'COPY "{name}" TO STDOUT') as copy:
                data[name] = [bytes(block) for block in copy]
        conn.execute(f'CREATE SCHEMA "{scratch}"')
        try:
            for name in tables:
                conn.execute(f'CREATE TABLE "{scratch}"."{name}" (LIKE public."{name}" INCLUDING ALL)')
            rows = {}
            with conn.transaction():
                start = time.perf_counter()
                for name in tables:
                    with conn.cursor().copy(f'COPY "{scratch}"."{name}" FROM STDIN') as copy:
                        for block in data[name]:
                            copy.write(block)
            seconds = time.perf_counter() - start  # the transaction has committed here
            for name in tables:
                rows[name] = conn.execute(f'SELECT count(*) FROM "{scratch}"."{name}"').fetchone()[0]
        finally:
            conn.execute(f'DROP SCHEMA "{scratch}" CASCADE')
    return rows, seconds


def _sqlite_floor(path: Path, tables: list[str]) -> tuple[dict[str, int], float]:
    source = sqlite3.connect(path)
    try:
        schema, virtual = _sqlite_schema(source)
        tables = [n for n in tables if not _is_virtual(n, virtual)]  # written by triggers
        data = {name: source.execute(f'SELECT * FROM "{name}"').fetchall() for name in tables}
    finally:
        source.close()
    folder = Path(tempfile.mkdtemp(prefix="fxcrm-copy-floor-"))
    target = sqlite3.connect(folder / "scratch.db", isolation_level=None)
    try:
        target.execute("PRAGMA journal_mode=WAL")
        target.execute("PRAGMA synchronous=NORMAL")
        target.execute("PRAGMA foreign_keys=OFF")  # the referenced rows are not copied
        for sql in schema:
            target.execute(sql)
        start = time.perf_counter()
        target.execute("BEGIN")
        for name in tables:
            if data[name]:
                marks = ", ".join("?" * len(data[name][0]))
                target.executemany(f'INSERT INTO "{name}" VALUES ({marks})', data[name])
        target.execute("COMMIT")
        seconds = time.perf_counter() - start
        rows = {n: target.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in tables}
    finally:
        target.close()
        for item in folder.iterdir():
            item.unlink()
        folder.rmdir()
    return rows, seconds


def _sqlite_schema(conn) -> tuple[list[str], list[str]]:
    """The whole schema in creation order (tables, indexes, triggers: an INSERT costs what it
    costs in the app's database, full-text index included), and the virtual tables; the
    virtual tables' own shadow tables are left out (creating the virtual table makes them)."""
    entries = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid").fetchall()
    virtual = [name for type_, name, sql in entries if type_ == "table" and sql.upper().startswith("CREATE VIRTUAL")]
    schema = [
        sql
        for type_, name, sql in entries
        if not (type_ == "table" and _is_virtual(name, virtual) and name not in virtual)
    ]
    return schema, virtual


def _is_virtual(name: str, virtual: list[str]) -> bool:
    return any(name == v or name.startswith(v + "_") for v in virtual)
