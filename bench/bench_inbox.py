"""Inbox query benchmark: list, filter and count requests at 1,000,000 tasks / 100,000 clients.

Run: .venv/bin/python bench/bench_inbox.py [--url URL] [--tasks N] [--clients N] [--runs R]
Default URL: a SQLite file in bench/out/ (kept, so a second run skips the load; pass
--reload to start a new file). On PostgreSQL pass a throw-away database URL: its tasks and
clients tables are emptied and refilled. Every query goes through the same service
calls the inbox page and the API make (engine.tasks.query), including turning rows
into JSON-ready dicts, and reports p50 / p95 / max in milliseconds. Not a test:
record the figures in docs/performance.md ("Inbox queries").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from engine import config as config_mod  # noqa: E402
from engine.clients.models import Client  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.migrate import upgrade  # noqa: E402
from engine.tasks import counters  # noqa: E402
from engine.tasks import service as tasks_service  # noqa: E402
from engine.tasks.models import PRIORITIES, Task  # noqa: E402
from engine.tasks.query import Filters, counts, list_page  # noqa: E402
from engine.values import utcnow  # noqa: E402
from bulk_load import analyze, chunks, latency  # noqa: E402

QUEUES = ("compliance", "finance", "support", "sales", "ib_ops")
QUEUE_WEIGHTS = (30, 30, 20, 15, 5)
STAFF = [f"agent{n}@broker.example" for n in range(40)]
RULES = [f"rule-{n:02d}" for n in range(25)]
OPEN_SHARE = 0.05  # tasks still open: the inbox's working set
CHUNK = 20_000


def _task_rows(n: int, clients: int, rng: random.Random, now):
    for i in range(n):
        created = now - timedelta(minutes=(n - i) * 0.5)  # ~1 year of history, ids follow time
        open_ = rng.random() < OPEN_SHARE
        status = (
            rng.choice(("open", "open", "in_progress", "waiting"))
            if open_
            else rng.choice(("done",) * 9 + ("dismissed",))
        )
        priority = rng.choices(tuple(PRIORITIES), (20, 60, 15, 5))[0]
        assignee = rng.choice(STAFF) if status in ("in_progress", "waiting", "done") else None
        due = created + timedelta(hours=rng.choice((4, 8, 24, 72))) if rng.random() < 0.9 else None
        if open_ and due is not None:
            due = now + timedelta(hours=rng.uniform(-48, 96))
        yield {
            "queue": rng.choices(QUEUES, QUEUE_WEIGHTS)[0],
            "status": status,
            "priority": priority,
            "priority_rank": PRIORITIES[priority],
            "title": f"Task {i}",
            "client_ref": f"C{rng.randrange(clients):06d}",
            "rule_id": rng.choice(RULES) if rng.random() < 0.9 else None,
            "ruleset_version": "bench",
            "created_at": created,
            "updated_at": created,
            "due_at": due,
            "closed_at": None if open_ else created + timedelta(hours=2),
            "assignee": assignee,
            "created_by": "system",
            "explanation": {"rule": "bench", "facts": {"client.status": "approved"}},
        }


def _client_rows(n: int, now):
    for i in range(n):
        yield {
            "ref": f"C{i:06d}",
            "status": "approved",
            "kyc_status": "approved",
            "funnel_stage": "funded",
            "auto_funding": False,
            "created_at": now,
        }


def _load(db: Database, tasks: int, clients: int) -> None:
    rng, now = random.Random(42), utcnow()
    started = time.perf_counter()
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(
                text(
                    "TRUNCATE tasks, task_events, task_comments, clients, "
                    "task_counts, task_due_counts RESTART IDENTITY CASCADE"
                )
            )
        for chunk in chunks(_client_rows(clients, now), CHUNK):
            conn.execute(insert(Client), chunk)
    for number, chunk in enumerate(chunks(_task_rows(tasks, clients, rng, now), CHUNK), 1):
        with db.engine.begin() as conn:  # Core insert: it counts its own open tasks
            conn.execute(insert(Task), chunk)
            counters.apply(conn, counters.deltas_for_rows(chunk))
        print(f"\rloaded {number * CHUNK:,} tasks", end="", file=sys.stderr, flush=True)
    _analyze(db)
    print(f"\nloaded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    with db.engine.connect() as conn:
        check = counters.rebuild(conn, write=False)
    print(
        f"task counters: {check.open_tasks:,} open tasks, {check.rows:,} rows, {len(check.wrong)} wrong",
        file=sys.stderr,
    )


def _analyze(db: Database) -> None:
    analyze(db, ["tasks", "clients", "task_counts", "task_due_counts"])


def _count(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Task))


def _page(session, filters, after=None):
    rows, cursor = list_page(session, filters, limit=50, after=after)
    return [tasks_service.to_dict(t) for t in rows], cursor


def _cursor_of_page(db: Database, filters, pages: int) -> str:
    cursor = None
    with db.sessions() as session:
        for _ in range(pages - 1):
            _, cursor = list_page(session, filters, limit=50, after=cursor)
    return cursor


def _queries(db: Database, rng: random.Random, clients: int) -> dict:
    team = lambda: (rng.choice(QUEUES[:4]),)  # noqa: E731
    deep = Filters(queues=("finance",), sort="due")
    deep_cursor = _cursor_of_page(db, deep, 20)
    return {
        "admin inbox, all open, newest": lambda s: _page(s, Filters()),
        "team inbox, open, newest": lambda s: _page(s, Filters(queues=team())),
        "team inbox, open, due soonest": lambda s: _page(s, Filters(queues=team(), sort="due")),
        "team inbox, open, by priority": lambda s: _page(s, Filters(queues=team(), sort="priority")),
        "overdue, all queues, due soonest": lambda s: _page(s, Filters(due="overdue", sort="due")),
        "unassigned in a queue": lambda s: _page(s, Filters(queues=team(), assignee="none")),
        "my tasks": lambda s: _page(s, Filters(assignee=rng.choice(STAFF))),
        "urgent in a queue": lambda s: _page(s, Filters(queues=team(), priority="urgent")),
        "by rule, open": lambda s: _page(s, Filters(rule=rng.choice(RULES))),
        "by client, any status": lambda s: _page(s, Filters(status="any", client=f"C{rng.randrange(clients):06d}")),
        "done, newest (history)": lambda s: _page(s, Filters(queues=team(), status="done")),
        "any status, by rule (API default)": lambda s: _page(s, Filters(status="any", rule=rng.choice(RULES))),
        "20th page, team inbox, due": lambda s: _page(s, deep, deep_cursor),
        "queue counts, admin (5 queues)": lambda s: counts(s, QUEUES, user=rng.choice(STAFF)),
        "queue counts, one team": lambda s: counts(s, team(), user=rng.choice(STAFF)),
    }


def _measure(db: Database, runs: int, clients: int) -> list[dict]:
    rng, results = random.Random(7), []
    for name, query in _queries(db, rng, clients).items():
        wall, cpu = [], []
        for attempt in range(runs + 3):
            with db.sessions() as session:
                started, cpu_started = time.perf_counter(), time.process_time()
                query(session)
                elapsed = (time.perf_counter() - started) * 1000
                cpu_ms = (time.process_time() - cpu_started) * 1000
                session.rollback()
            if attempt >= 3:  # warm-up runs are not counted
                wall.append(elapsed)
                cpu.append(cpu_ms)
        # In-process CPU time says what a query costs when the machine is shared (SQLite only:
        # a PostgreSQL server's time is not in this process).
        results.append({"query": name, **latency(wall), **latency(cpu, "cpu_")})
        print(
            f"{name:38} p50 {results[-1]['p50_ms']:7.2f}  p95 {results[-1]['p95_ms']:7.2f}"
            f"  (cpu p95 {results[-1]['cpu_p95_ms']:6.2f})",
            file=sys.stderr,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"sqlite:///{ROOT / 'bench' / 'out' / 'inbox.db'}")
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--analyze", action="store_true", help="refresh statistics first")
    args = parser.parse_args()
    if args.reload and args.url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):  # a new file is faster than deleting 1M rows
            Path(args.url.split("///", 1)[1] + suffix).unlink(missing_ok=True)
    upgrade(args.url)
    db = Database(config_mod.Config(database_url=args.url))
    if args.reload or _count(db) != args.tasks:
        _load(db, args.tasks, args.clients)
    elif args.analyze:
        _analyze(db)
    results = _measure(db, args.runs, args.clients)
    worst = max(r["p95_ms"] for r in results)
    print(
        json.dumps(
            {
                "backend": db.dialect,
                "tasks": args.tasks,
                "clients": args.clients,
                "load_average": os.getloadavg()[0],
                "cpus": os.cpu_count(),
                "open_share": OPEN_SHARE,
                "runs": args.runs,
                "worst_p95_ms": worst,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
