"""Report benchmark: every report over 1,000,000 events and 100,000 clients.

Run: .venv/bin/python bench/bench_reports.py [--url URL] [--clients N] [--events N] [--runs R]
Default URL: a SQLite file in bench/out/ (kept: a second run skips the load; --reload
rebuilds). On PostgreSQL pass a throw-away database URL: its tables are emptied.

The data set is engine.demo.BrokerGenerator's synthetic broker, topped up with balance
updates to the event count. The events go into the event store by bulk insert, and the
domain rows the reports read (clients, deposits, withdrawals, trading accounts, IB
tree, attributions, trades, commissions, tasks) are derived from those events in
Python here rather than by the processing pipeline, which would take hours at this size.
Each report is timed end to end as a download: build it and write every section as
CSV (rows streamed), and separately as XLSX. Not a test: record the figures in
docs/performance.md ("Reports").
"""

from __future__ import annotations

import argparse
import io
import os
import json
import random
import statistics
import sys
import time
import tracemalloc
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, inspect, select, text  # noqa: E402

from engine import config as config_mod  # noqa: E402
from engine.accounts.models import TradingAccount  # noqa: E402
from engine.clients.models import Client  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.demo import BrokerGenerator  # noqa: E402
from engine.events.models import Event  # noqa: E402
from engine.ib.models import (  # noqa: E402
    IbClientStats,
    IbCommission,
    IbTrade,
    IntroducingBroker,
)
from engine.migrate import upgrade  # noqa: E402
from engine.payments.models import Deposit, Withdrawal  # noqa: E402
from engine.reports import export  # noqa: E402
from engine.reports.base import run  # noqa: E402
from engine.reports.reading import read_session  # noqa: E402
from engine.tasks import counters  # noqa: E402
from engine.tasks.models import Task  # noqa: E402
from engine.values import parse_datetime  # noqa: E402

CHUNK = 10_000
REPORTS = ("funnel", "payments", "ib", "tasks")
QUEUES = ("compliance", "finance", "support", "sales", "ib_ops")
RULES = [f"rule-{n:02d}" for n in range(25)]


class Loader:
    """Buffer rows per table and insert them in chunks."""

    def __init__(self, db: Database):
        self.db, self.rows, self.counts = db, {}, {}

    def add(self, model, row: dict) -> None:
        batch = self.rows.setdefault(model, [])
        batch.append(row)
        if len(batch) >= CHUNK:
            self.flush(model)

    def flush(self, model=None) -> None:
        for m in [model] if model else list(self.rows):
            if self.rows.get(m):
                with self.db.engine.begin() as conn:
                    conn.execute(insert(m), self.rows[m])
                self.counts[m.__tablename__] = self.counts.get(m.__tablename__, 0) + len(self.rows[m])
                self.rows[m] = []


def _project(load: Loader, e: dict, state: dict, rng: random.Random) -> None:
    """Derive the domain rows one event implies (a bench-only stand-in for projections)."""
    ref, data, at, typ = e["client"], e["data"], parse_datetime(e["occurred_at"]), e["type"]
    if typ == "client.registered":
        state["clients"][ref] = {
            "ref": ref,
            "status": "pending",
            "created_at": at,
            "registered_at": at,
            "country": data["country"],
            "source": data.get("source"),
            "kyc_status": "not_started",
            "kyc_status_at": None,
            "funnel_stage": "registered",
            "auto_funding": False,
        }
        code = data.get("referral_code")
        if code:
            load.add(IbClientStats, {"client_ref": ref, "ib_id": code[4:], "registered_at": at, "chargebacks": 0})
            state["ib_of"][ref] = code[4:]
    elif typ == "ib.registered":
        parent = state["ibs"][-1] if state["ibs"] and rng.random() < 0.4 else None
        state["ibs"].append(data["ib_id"])
        load.add(
            IntroducingBroker,
            {
                "ib_id": data["ib_id"],
                "referral_code": data["referral_code"],
                "client_ref": ref,
                "parent_ib_id": parent,
                "registered_at": at,
            },
        )
    elif typ == "kyc.review_completed":
        client = state["clients"][ref]
        client.update(
            kyc_status=data["result"],
            kyc_status_at=at,
            status="approved" if data["result"] == "approved" else "pending",
        )
    elif typ.startswith("payment.deposit_"):
        status = typ.rsplit("_", 1)[1]
        load.add(
            Deposit,
            {
                "client_ref": ref,
                "provider": data["provider"],
                "payment_id": data["payment_id"],
                "method": data["method"],
                "amount": Decimal(data["amount"]),
                "currency": data["currency"],
                "status": status,
                "reason_code": data.get("reason_code"),
                "reason": data.get("reason"),
                "requested_at": at,
                "failed_at": at if status == "failed" else None,
                "completed_at": at if status == "completed" else None,
                "updated_at": at,
            },
        )
        ib = state["ib_of"].get(ref)
        if ib and status == "completed":
            load.add(
                IbCommission,
                {
                    "key": f"cpa:{ref}",
                    "ib_id": ib,
                    "client_ref": ref,
                    "type": "cpa",
                    "level": 0,
                    "amount": Decimal("25.00"),
                    "currency": "USD",
                    "explanation": {},
                    "status": rng.choice(("pending_review", "approved", "paid")),
                    "earned_at": at,
                    "created_at": at,
                    "created_by": "bench",
                },
            )
    elif typ == "payment.withdrawal_requested":
        load.add(
            Withdrawal,
            {
                "withdrawal_id": data["withdrawal_id"],
                "client_ref": ref,
                "amount": Decimal(data["amount"]),
                "currency": data["currency"],
                "method": data.get("method"),
                "status": "pending",
                "step": "finance_review",
                "waiting_for": rng.choice(("compliance", "finance", "payment_provider")),
                "chain": [],
                "requested_by": ref,
                "requested_at": at,
                "updated_at": at,
            },
        )
    elif typ == "account.created":
        state["accounts"][data["account_id"]] = {
            "account_id": data["account_id"],
            "client_ref": ref,
            "platform": data["platform"],
            "account_type": data["account_type"],
            "currency": data["currency"],
            "leverage": data["leverage"],
            "status": "active",
            "opened_at": at,
        }
    elif typ == "trade.closed":
        account = state["accounts"][data["account_id"]]
        opened = parse_datetime(data["open_time"])
        account.setdefault("first_trade_at", opened)
        if ref in state["ib_of"]:
            closed = parse_datetime(data["close_time"])
            load.add(
                IbTrade,
                {
                    "client_ref": ref,
                    "account_id": data["account_id"],
                    "ticket": data["ticket"],
                    "symbol": data["symbol"],
                    "lots": Decimal(data["volume_lots"]),
                    "open_time": opened,
                    "close_time": closed,
                    "held_seconds": int((closed - opened).total_seconds()),
                    "profit": Decimal(data["profit"]),
                    "fee": Decimal(0),
                    "currency": "USD",
                },
            )


def _event_row(e: dict) -> dict:
    at = parse_datetime(e["occurred_at"])
    return {
        "source": e["source"],
        "event_id": e["id"],
        "type": e["type"],
        "client_ref": e["client"],
        "occurred_at": at,
        "received_at": at,
        "data": e["data"],
        "via": "bench",
        "status": "processed",
        "attempts": 1,
    }


def _tasks(load: Loader, clients: int, rng: random.Random, start) -> None:
    for i in range(clients):
        created = start + timedelta(minutes=rng.uniform(0, 40 * 24 * 60))
        status = rng.choices(("open", "in_progress", "done", "dismissed"), (5, 2, 70, 23))[0]
        closed = created + timedelta(hours=rng.uniform(0.1, 72)) if status in ("done", "dismissed") else None
        load.add(
            Task,
            {
                "queue": rng.choice(QUEUES),
                "status": status,
                "priority": "normal",
                "priority_rank": 20,
                "title": f"Task {i}",
                "client_ref": f"C{i:06d}",
                "rule_id": rng.choice(RULES) if rng.random() < 0.9 else None,
                "created_at": created,
                "updated_at": created,
                "closed_at": closed,
                "due_at": created + timedelta(hours=rng.choice((4, 24, 48))),
            },
        )


def _load(db: Database, clients: int, events: int) -> dict:
    started, rng = time.perf_counter(), random.Random(11)
    if db.dialect == "postgresql":
        tables = [t for t in inspect(db.engine).get_table_names() if t != "alembic_version"]
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    load, gen = Loader(db), BrokerGenerator(seed=5)
    state = {"clients": {}, "ibs": [], "ib_of": {}, "accounts": {}}
    written = 0
    for e in gen.events(clients):
        load.add(Event, _event_row(e))
        _project(load, e, state, rng)
        written += 1
        if written % 100_000 == 0:
            print(f"\r{written:,} events", end="", file=sys.stderr, flush=True)
    refs = list(state["clients"])
    while written < events:  # top up with balance updates to reach the event count
        ref = rng.choice(refs)
        load.add(
            Event,
            _event_row(
                {
                    "source": "bench",
                    "id": f"bal-{written}",
                    "client": ref,
                    "type": "account.balance_updated",
                    "occurred_at": "2026-10-20T00:00:00Z",
                    "data": {"balance": "1.00"},
                }
            ),
        )
        written += 1
    for row in state["clients"].values():
        load.add(Client, row)
    for row in state["accounts"].values():
        load.add(TradingAccount, {"first_trade_at": None, **row})
    _tasks(load, clients, rng, gen.start)
    load.flush()
    with db.engine.begin() as conn:
        counters.rebuild(conn)  # the bulk insert bypassed the session hooks that keep them
        conn.execute(text("ANALYZE"))
    print(f"\nloaded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return load.counts


def _time(db: Database, name: str, fmt: str, trace: bool = False) -> tuple:
    """Build report `name` and write it all; return wall and CPU seconds, lines, peak bytes."""
    if trace:  # tracing slows allocation down: a separate run measures memory
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    rows = 0
    with read_session(db) as session:
        _report, _filters, sections = run(session, name, {})
        if fmt == "xlsx":
            export.write_xlsx(sections, io.BytesIO())
        else:
            for section in sections:
                for chunk in export.csv_lines(section):
                    rows += chunk.count("\n")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    tracemalloc.stop()
    return elapsed, cpu, rows, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"sqlite:///{ROOT / 'bench' / 'out' / 'reports.db'}")
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()
    path = Path(args.url.split("///", 1)[1]) if args.url.startswith("sqlite") else None
    if path and args.reload and path.exists():
        path.unlink()
    upgrade(args.url)
    db = Database(config_mod.Config(database_url=args.url))
    with db.engine.connect() as conn:
        have = conn.scalar(select(func.count()).select_from(Client))
    counts = _load(db, args.clients, args.events) if args.reload or have < args.clients else {}
    with db.engine.connect() as conn:
        sizes = {
            t: conn.scalar(text(f"SELECT count(*) FROM {t}"))
            for t in (
                "events",
                "clients",
                "deposits",
                "withdrawals",
                "trading_accounts",
                "ib_brokers",
                "ib_client_stats",
                "ib_trades",
                "ib_commissions",
                "tasks",
            )
        }
    results = []
    for name in REPORTS:
        for fmt in ("csv", "xlsx"):
            timings = [_time(db, name, fmt) for _ in range(args.runs)]
            peak = _time(db, name, fmt, trace=True)[3]
            results.append(
                {
                    "report": name,
                    "format": fmt,
                    "csv_lines": timings[0][2] if fmt == "csv" else None,
                    "wall_median_s": round(statistics.median(t[0] for t in timings), 2),
                    "wall_max_s": round(max(t[0] for t in timings), 2),
                    "cpu_median_s": round(statistics.median(t[1] for t in timings), 2),
                    "peak_python_mb": round(peak / 2**20, 1),
                }
            )
            r = results[-1]
            print(
                f"{name:9} {fmt:5} wall {r['wall_median_s']:6.2f} s  cpu {r['cpu_median_s']:6.2f} s"
                f"  peak {r['peak_python_mb']} MB",
                file=sys.stderr,
            )
    print(
        json.dumps(
            {
                "backend": db.dialect,
                "tables": sizes,
                "loaded": counts,
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
