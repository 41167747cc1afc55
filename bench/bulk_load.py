"""What the benchmarks that bulk-load a database share: rows in chunks, fresh planner
statistics, and latency figures. Imported by the bench scripts (their folder is on sys.path
when run as `python bench/<script>.py`)."""

from __future__ import annotations

import statistics
from typing import Iterable, Iterator

from sqlalchemy import text

from engine.db import Database


def chunks(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    """The rows in lists of `size` (the last one shorter), for one INSERT each."""
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def analyze(db: Database, tables: Iterable[str]) -> None:
    """Refresh the planner's statistics after a bulk load.

    PostgreSQL: VACUUM ANALYZE each of `tables`; VACUUM also sets the visibility map, without
    which no index-only scan is possible (autovacuum does this in production, but not within
    a benchmark's minutes). SQLite: ANALYZE the whole file."""
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                conn.execute(text(f"VACUUM ANALYZE {table}"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def latency(timings: list[float], prefix: str = "") -> dict:
    """p50, p95 and max of `timings` (milliseconds), rounded, named `<prefix>p50_ms` etc."""
    timings = sorted(timings)
    return {
        f"{prefix}p50_ms": round(statistics.median(timings), 2),
        f"{prefix}p95_ms": round(timings[max(int(len(timings) * 0.95) - 1, 0)], 2),
        f"{prefix}max_ms": round(timings[-1], 2),
    }
