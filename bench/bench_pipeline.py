"""End-to-end pipeline benchmark: ingest -> processed -> tasks committed.

Generates a synthetic broker (engine.demo.BrokerGenerator), activates the shipped rules
when the rules engine is present, and measures events/s from the first ingested line
to the last processed event, on SQLite embedded and on PostgreSQL + rq with N workers.
Prints one JSON object per configuration. Not a test: see docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from engine import config as config_mod  # noqa: E402
from engine.db import Database, unit_of_work  # noqa: E402
from engine.demo import BrokerGenerator  # noqa: E402
from engine.events.models import PENDING, Event  # noqa: E402
from engine.events.store import ingest_lines  # noqa: E402
from engine.migrate import upgrade  # noqa: E402
from engine.values import UTC  # noqa: E402
from engine.tasks.models import Task  # noqa: E402


def generate(clients: int, seed: int) -> list[str]:
    """Return the synthetic broker's events as JSON lines.

    The history starts tomorrow, so no rule timer falls due during the run: every
    configuration then does exactly the same work and makes the same tasks.
    """
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return [json.dumps(e) for e in BrokerGenerator(seed, start=start, span_days=7).events(clients)]


def activate_rules(database_url: str) -> str | None:
    """Activate the shipped rules if the rules engine offers activation; return the version."""
    try:
        from engine.rules import activation
    except ImportError:
        return None
    db = Database(config_mod.Config(database_url=database_url))
    try:
        return activation.activate_dir(db, str(ROOT / "rules"), actor="bench")
    finally:
        db.dispose()


def _counts(db: Database) -> tuple[int, int, int]:
    with unit_of_work(db) as s:
        pending = s.scalar(select(func.count()).select_from(Event).where(Event.status == PENDING))
        total = s.scalar(select(func.count()).select_from(Event))
        tasks = s.scalar(select(func.count()).select_from(Task))
    return pending, total, tasks


def run_embedded(lines: list[str]) -> dict:
    """SQLite file, events processed in-process right after each batch commits."""
    tmp = tempfile.mkdtemp(prefix="fxcrm-bench-")
    url = f"sqlite:///{tmp}/bench.db"
    upgrade(url)
    version = activate_rules(url)
    db = Database(config_mod.Config(database_url=url))
    start = time.perf_counter()
    report = ingest_lines(db, lines)
    elapsed = time.perf_counter() - start
    pending, total, tasks = _counts(db)
    return {"config": "sqlite-embedded", "events": report.accepted, "pending_after": pending,
            "stored": total, "tasks": tasks, "seconds": round(elapsed, 2),
            "events_per_s": round(report.accepted / elapsed, 1), "ruleset": version,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _fresh_pg(admin_url: str) -> str:
    name = f"fxcrm_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def _drop_pg(admin_url: str, url: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def run_distributed(lines: list[str], workers: int, pg_admin: str, redis_url: str) -> dict:
    """PostgreSQL + rq: workers run while the events are ingested; time until all processed."""
    url = _fresh_pg(pg_admin)
    try:
        upgrade(url)
        version = activate_rules(url)
        cfg = config_mod.Config(database_url=url, redis_url=redis_url,
                                queue_name=f"fxcrm-bench-{uuid.uuid4().hex[:6]}")
        env = {**os.environ, "FXCRM_DATABASE_URL": url, "FXCRM_REDIS_URL": redis_url,
               "FXCRM_QUEUE_NAME": cfg.queue_name, "FXCRM_SECRET_KEY": "bench"}
        outs = [tempfile.mktemp(suffix=".json") for _ in range(workers)]
        procs = [subprocess.Popen([sys.executable, str(ROOT / "bench" / "worker_wrapper.py"), out],
                                  env=env, cwd=ROOT) for out in outs]
        time.sleep(1.5)  # workers connected
        db = Database(cfg)
        start = time.perf_counter()
        report = ingest_lines(db, lines)
        ingest_s = time.perf_counter() - start
        while _counts(db)[0] > 0:
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        _pending, total, tasks = _counts(db)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
        rss = [json.loads(Path(o).read_text()) for o in outs if Path(o).exists()]
        db.dispose()
        return {"config": f"postgres-rq-{workers}-worker{'s' if workers > 1 else ''}",
                "events": report.accepted, "stored": total, "tasks": tasks,
                "ingest_seconds": round(ingest_s, 2), "seconds": round(elapsed, 2),
                "events_per_s": round(report.accepted / elapsed, 1), "ruleset": version,
                "peak_rss_mb_per_worker": [round(max(r.values()) / 1024, 1) for r in rss]}
    finally:
        _drop_pg(pg_admin, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--config", choices=["sqlite", "pg1", "pg2", "all"], default="all")
    parser.add_argument("--pg", default=os.environ.get(
        "FXCRM_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis", default=os.environ.get(
        "FXCRM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    lines = generate(args.clients, args.seed)
    if args.config in ("sqlite", "all"):
        print(json.dumps({"clients": args.clients, **run_embedded(lines)}), flush=True)
    for name, workers in (("pg1", 1), ("pg2", 2)):
        if args.config in (name, "all"):
            print(json.dumps({"clients": args.clients,
                              **run_distributed(lines, workers, args.pg, args.redis)}), flush=True)


if __name__ == "__main__":
    main()
