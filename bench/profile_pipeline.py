"""Profile the processing hot path: SQL statements per event, by table, and cProfile.

Run: .venv/bin/python bench/profile_pipeline.py [--db sqlite|postgres] [--clients N]
       [--stream demo|trades] [--events N] [--no-batch | --both]
Stores the synthetic broker's events first (not timed), then processes them the way
one worker does (`process_clients` in job-sized batches) while counting every SQL
statement (SQLAlchemy `before_cursor_execute`) and, with --cprofile, profiling.
`--stream trades` is the trades-heavy history (engine.demo.trading_history: journeys,
then later trades, each closed trade with a balance update) up to --events events.
`--no-batch` processes every event per event (FXCRM_BATCH=0); `--both` runs the
per-event and the set-based path one after the other, each on a fresh database with the
same events. Prints one JSON object per run. Not a test and not part of `make bench`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import event as sa_event  # noqa: E402

from pipeline_setup import drop_database, fresh_database, generate, history_start, store_only  # noqa: E402

from engine import processing  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.processing.dispatch import chunks  # noqa: E402

ENGINE_DIR = str(Path(__file__).resolve().parent.parent / "engine") + "/"
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", re.I)


def statement_kind(sql: str) -> str:
    """Return 'VERB table' for a SQL statement (savepoints by verb only)."""
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    table = _TABLE.search(sql)
    return f"{verb} {table[1]}" if table and verb in ("SELECT", "INSERT", "UPDATE", "DELETE") else verb


def _project_site() -> str:
    """Return the innermost project frame (file:line function) below the SQL call."""
    import traceback

    for frame in reversed(traceback.extract_stack(limit=80)):
        if frame.filename.startswith(ENGINE_DIR) and not frame.filename.endswith("/db.py"):
            return f"{frame.filename[len(ENGINE_DIR) :]}:{frame.lineno} {frame.name}"
    return "?"


def count_statements(database: Database, sites: Counter | None = None) -> Counter:
    """Count the statements `database` runs from now on, by kind (and by call site)."""
    counts: Counter = Counter()

    def seen(_conn, _cursor, statement, parameters, _context, executemany):
        kind = statement_kind(statement)
        counts[kind] += 1
        if sites is not None:
            sites[f"{kind} <- {_project_site()}"] += 1

    sa_event.listen(database.engine, "before_cursor_execute", seen)
    return counts


def time_handlers(counts: Counter) -> dict[str, list[float]]:
    """Wrap every projection and evaluator to add up its seconds, statements and calls."""
    spent: dict[str, list[float]] = {}

    def wrap(handler):
        name = f"{handler.__module__}.{handler.__name__}"
        spent.setdefault(name, [0.0, 0, 0])

        def timed(session, event, client):
            before, start = sum(counts.values()), time.perf_counter()
            try:
                return handler(session, event, client)
            finally:
                row = spent[name]
                row[0] += time.perf_counter() - start
                row[1] += sum(counts.values()) - before
                row[2] += 1

        timed.__wrapped__ = handler  # type: ignore[attr-defined]  (its set-based form)
        return timed

    for handlers in processing.PROJECTIONS.values():
        handlers[:] = [wrap(h) for h in handlers]
    processing.EVALUATORS[:] = [wrap(h) for h in processing.EVALUATORS]
    return spent


def stream(args) -> list[str]:
    if args.stream == "demo":
        return generate(args.clients, args.seed)
    from engine.demo import trading_history

    return [json.dumps(e) for e in trading_history(args.seed, args.clients, args.events, start=history_start())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--stream", choices=["demo", "trades"], default="demo")
    parser.add_argument("--events", type=int, default=20_000, help="--stream trades: events in all")
    parser.add_argument("--no-batch", action="store_true", help="every event per event (FXCRM_BATCH=0)")
    parser.add_argument("--both", action="store_true", help="per event, then set-based, same events")
    parser.add_argument("--cprofile", action="store_true", help="also print the top functions")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument(
        "--sites", action="store_true", help="also count statements by the project code that issued them (slow)"
    )
    args = parser.parse_args()
    lines = stream(args)
    for batch in [False, True] if args.both else [not args.no_batch]:
        profile_once(args, lines, batch)


def profile_once(args, lines: list[str], batch: bool) -> None:
    url, cfg = fresh_database(args.db, batch=batch)
    try:
        database = Database(cfg)
        refs, events = store_only(database, lines)
        processing.load_handlers()
        sites: Counter | None = Counter() if args.sites else None
        counts = count_statements(database, sites)
        spent = time_handlers(counts)
        batched = count_batched()
        profiler = cProfile.Profile() if args.cprofile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        for chunk in chunks(refs, cfg.job_batch):
            processing.process_clients(database, chunk)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        total = sum(counts.values())
        out = {
            "db": args.db,
            "stream": args.stream,
            "batch": batch,
            "clients": len(refs),
            "events": events,
            "set_based_events": len(batched),
            "set_based_seconds": round(ROUND_SECONDS[0], 2),
            "set_based_by_type": dict(Counter(batched).most_common()),
            "by_type": by_type(database),
            "seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),
            "events_per_s": round(events / wall, 1),
            "statements": total,
            "statements_per_event": round(total / events, 2),
            "by_kind_per_event": {k: round(v / events, 3) for k, v in counts.most_common(40)},
            "by_handler": {
                name: {
                    "ms_per_event": round(sec * 1000 / events, 2),
                    "statements_per_event": round(n / events, 2),
                    "calls": calls,
                }
                for name, (sec, n, calls) in sorted(spent.items(), key=lambda kv: -kv[1][0])
                if calls
            },
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        if sites is not None:
            out["by_site_per_event"] = {k: round(v / events, 3) for k, v in sites.most_common(40)}
        print(json.dumps(out, indent=1), flush=True)
        database.dispose()
        if profiler:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(
                args.top
            )
            print(text.getvalue())
    finally:
        drop_database(url)
        _reset_handlers()


ROUND_SECONDS = [0.0]  # wall seconds inside set-based rounds (their bulk reads and writes)


def count_batched() -> list:
    """Collect the events the set-based path takes from now on (engine.processing.batch)."""
    from engine.processing import batch

    taken: list = []
    ROUND_SECONDS[0] = 0.0
    original = getattr(batch._batch_round, "__wrapped__", batch._batch_round)

    def counting(session, clients, runs, forms, mark, done):
        before, start = len(done), time.perf_counter()
        stopped = original(session, clients, runs, forms, mark, done)
        taken.extend(e.type for e in done[before:])
        ROUND_SECONDS[0] += time.perf_counter() - start
        return stopped

    counting.__wrapped__ = original  # type: ignore[attr-defined]
    batch._batch_round = counting
    return taken


def by_type(database: Database) -> dict[str, int]:
    """How many events of each type were stored (and their status), for the record."""
    from sqlalchemy import text as sql

    with database.engine.connect() as conn:
        return {
            f"{t} {s}": n
            for t, s, n in conn.execute(
                sql("SELECT type, status, count(*) FROM events GROUP BY type, status ORDER BY 3 DESC")
            )
        }


def _reset_handlers() -> None:
    """Unwrap the timing wrappers, so a second run wraps the handlers once."""
    for handlers in processing.PROJECTIONS.values():
        handlers[:] = [getattr(h, "__wrapped__", h) for h in handlers]
    processing.EVALUATORS[:] = [getattr(h, "__wrapped__", h) for h in processing.EVALUATORS]


if __name__ == "__main__":
    main()
