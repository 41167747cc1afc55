"""Client list benchmark: the /clients searches and filters at 100,000 clients.

Run: .venv/bin/python bench/bench_clients.py [--url URL] [--clients N] [--runs R]
Default URL: a SQLite file in bench/out/ (rebuilt when its size differs). On PostgreSQL
pass a throw-away database URL: its clients and trading_accounts tables are emptied and
refilled. Every query goes through engine.clients.search (what the page and
`fxcrm clients search` call), including turning rows into dicts, and reports p50 / p95 /
max in milliseconds. Record the figures in docs/performance.md ("Client list").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from types import SimpleNamespace
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from engine import config as config_mod  # noqa: E402
from engine.accounts.models import TradingAccount  # noqa: E402
from engine.clients import search, service  # noqa: E402
from engine.clients.models import Client, search_text  # noqa: E402
from engine.db import Database, unit_of_work  # noqa: E402
from engine.migrate import upgrade  # noqa: E402
from engine.values import utcnow  # noqa: E402
from bulk_load import analyze, chunks, latency  # noqa: E402

FIRST = ["Anna", "Bob", "Carla", "Dmitri", "Eva", "Farid", "Greta", "Hugo", "Ines", "Jonas"]
LAST = ["Schmidt", "Jones", "Rossi", "Ivanov", "Novak", "Haddad", "Berg", "Dupont", "Silva", "Meyer"]
COUNTRIES = ["DE", "GB", "FR", "IT", "ES", "PL", "NL", "AE", "CY", "SE"]
CHUNK = 20_000


def _rows(n: int, rng: random.Random, now):
    start = now - timedelta(days=730)
    for i in range(n):
        row = {
            "ref": f"C{i:06d}",
            "email": f"{FIRST[i % 10].lower()}.{i}@mail{i % 50}.example",
            "first_name": FIRST[rng.randrange(10)],
            "last_name": f"{LAST[rng.randrange(10)]}{i}",
            "phone": f"+49 (151) {i:07d}",
            "country": COUNTRIES[rng.randrange(10)],
            "status": rng.choice(search.STATUSES),
            "kyc_status": rng.choice(("approved", "pending", "not_started")),
            "funnel_stage": rng.choice(search.FUNNEL),
            "risk_category": rng.choice(search.RISKS),
            "referral_code": f"IB{i % 300:03d}" if i % 3 == 0 else None,
            "auto_funding": False,
            "registered_at": start + timedelta(minutes=i * 10),
            "created_at": now,
        }
        # A bulk insert skips the ORM hook that keeps search_text: compute it the same way.
        yield {**row, "search_text": search_text(SimpleNamespace(**row))}


def _accounts(n: int, now):
    for i in range(0, n, 2):
        yield {
            "account_id": f"MT5-{700000 + i}",
            "client_ref": f"C{i:06d}",
            "platform": "mt5",
            "account_type": "standard",
            "currency": "USD",
            "leverage": 100,
            "opened_at": now,
        }


def _load(db: Database, n: int) -> None:
    rng, now = random.Random(42), utcnow()
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("TRUNCATE clients, trading_accounts RESTART IDENTITY CASCADE"))
        for chunk in chunks(_rows(n, rng, now), CHUNK):
            conn.execute(insert(Client), chunk)
        for chunk in chunks(_accounts(n, now), CHUNK):
            conn.execute(insert(TradingAccount), chunk)
    analyze(db, ["clients", "trading_accounts"])


def _count(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Client))


def _page(session, args: dict, after=None):
    rows, cursor = search.search(session, search.parse_filters(args), after=after)
    return [service.summary(c) for c in rows], cursor


def _later_cursor(db: Database, args: dict, pages: int) -> str | None:
    cursor = None
    with unit_of_work(db) as s:
        for _ in range(pages):
            _, cursor = _page(s, args, cursor)
    return cursor


def _queries(db: Database, rng: random.Random, n: int) -> dict:
    """Return name -> function(session) for the list's typical requests."""

    def one(i):
        return rng.randrange(n) if i is None else i

    ten = _later_cursor(db, {}, 10)
    year = date.today() - timedelta(days=365)
    return {
        "first page, no filter": lambda s: _page(s, {}),
        "partial e-mail (one client)": lambda s: _page(s, {"q": f".{one(None)}@mail"}),
        "e-mail domain (many)": lambda s: _page(s, {"q": "@mail7.example"}),
        "last name, mixed case": lambda s: _page(s, {"q": f"SCHMIDT{one(None)}"}),
        "full name": lambda s: _page(s, {"q": "anna schmidt"}),
        "client ref": lambda s: _page(s, {"q": f"c{one(None):06d}"}),
        "trading account id": lambda s: _page(s, {"q": f"mt5-{700000 + 2 * rng.randrange(n // 2)}"}),
        "referral code": lambda s: _page(s, {"q": f"ib{rng.randrange(300):03d}"}),
        "phone, written another way (one client)": lambda s: _page(s, {"q": f"0049 151-{one(None):07d}"}),
        "no match": lambda s: _page(s, {"q": "zzz-nobody"}),
        "status + country": lambda s: _page(s, {"status": "pending", "country": "DE"}),
        "kyc + risk + funnel": lambda s: _page(s, {"kyc_status": "pending", "risk": "high", "funnel_stage": "funded"}),
        "IB + registered since": lambda s: _page(s, {"ib": "IB042", "registered_from": str(year)}),
        "registered between": lambda s: _page(
            s, {"registered_from": str(year), "registered_to": str(year + timedelta(days=30))}
        ),
        "page 11 (keyset)": lambda s: _page(s, {}, ten),
    }


def _measure(db: Database, runs: int, n: int) -> list[dict]:
    rng, results = random.Random(7), []
    for name, run in _queries(db, rng, n).items():
        timings = []
        with unit_of_work(db) as s:
            run(s)  # warm the caches once
            for _ in range(runs):
                started = time.perf_counter()
                run(s)
                timings.append((time.perf_counter() - started) * 1000)
        results.append({"query": name, **latency(timings)})
        print(f"{name:32} p50 {results[-1]['p50_ms']:7.2f}  p95 {results[-1]['p95_ms']:7.2f}", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"sqlite:///{ROOT / 'bench' / 'out' / 'clients.db'}")
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    if args.url.startswith("sqlite:///"):
        Path(args.url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    upgrade(args.url)
    db = Database(config_mod.Config(database_url=args.url))
    if _count(db) != args.clients:
        if args.url.startswith("sqlite:///"):
            with db.engine.begin() as conn:
                conn.execute(text("DELETE FROM clients"))
                conn.execute(text("DELETE FROM trading_accounts"))
        _load(db, args.clients)
    results = _measure(db, args.runs, args.clients)
    print(
        json.dumps(
            {
                "backend": db.dialect,
                "clients": args.clients,
                "runs": args.runs,
                "load_average": os.getloadavg()[0],
                "cpus": os.cpu_count(),
                "worst_p95_ms": max(r["p95_ms"] for r in results),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
