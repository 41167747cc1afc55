"""What the pipeline benchmarks share: the workload, fresh databases, storing without processing."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from engine import config as config_mod  # noqa: E402
from engine.db import Database, unit_of_work  # noqa: E402
from engine.demo import BrokerGenerator  # noqa: E402
from engine.events.store import parse_line, record_many  # noqa: E402
from engine.migrate import upgrade  # noqa: E402
from engine.values import UTC  # noqa: E402

# The synthetic history starts tomorrow and spans a week (no timer falls due during a run).
os.environ.setdefault("FXCRM_EVENT_MAX_AHEAD", "30d")
PG_ADMIN = os.environ.get("FXCRM_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("FXCRM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def history_start() -> datetime:
    """Tomorrow: no rule timer falls due during a run, so every configuration does the same work."""
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


def generate(clients: int, seed: int, *, first: int = 1) -> list[str]:
    """Return the synthetic broker's events as JSON lines (client refs from `first`)."""
    gen = BrokerGenerator(seed, start=history_start(), span_days=7)
    return [json.dumps(e) for e in gen.events(clients, first=first)]


def activate_rules(database_url: str) -> str:
    """Activate the shipped rules; return the version."""
    from engine.rules import activation

    db = Database(config_mod.Config(database_url=database_url))
    try:
        return activation.activate_dir(db, str(ROOT / "rules"), actor="bench")
    finally:
        db.dispose()


def fresh_postgres(admin_url: str = PG_ADMIN) -> str:
    """Create an empty PostgreSQL database and return its URL."""
    name = f"fxcrm_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_postgres(admin_url: str, url: str) -> None:
    """Drop the benchmark database at `url` (connections are closed by force)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def drop_database(url: str) -> None:
    """Remove a benchmark database made by `fresh_database` (PostgreSQL or SQLite file)."""
    if url.startswith("sqlite"):
        shutil.rmtree(Path(url.split("///", 1)[1]).parent, ignore_errors=True)
    else:
        drop_postgres(PG_ADMIN, url)


def fresh_database(kind: str, **config) -> tuple[str, config_mod.Config]:
    """Return (url, config) of a migrated database with the shipped rules active."""
    if kind == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='fxcrm-bench-')}/bench.db"
    else:
        url = fresh_postgres()
    upgrade(url)
    activate_rules(url)
    return url, config_mod.Config(database_url=url, **config)


def store_only(database: Database, lines, batch: int = 500) -> tuple[list[str], int]:
    """Store JSON lines without processing them; return (client refs, events stored)."""
    refs, stored, chunk = set(), 0, []

    def flush() -> int:
        with unit_of_work(database) as session:
            return len(record_many(session, chunk, via="file"))

    for line in lines:
        chunk.append(parse_line(line))
        if len(chunk) >= batch:
            stored += flush()
            refs.update(e["client"] for e in chunk)
            chunk = []
    if chunk:
        stored += flush()
        refs.update(e["client"] for e in chunk)
    return sorted(refs), stored
