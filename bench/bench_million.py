"""A million events end to end, with the workers' memory sampled (issue 20's long run).

    python bench/bench_million.py [--events 1000000] [--clients 100000] [--db postgres|sqlite]
                                  [--workers 2] [--batch 1|0] [--reuse]
    make bench BENCH_ARGS="--only million --million-args '--events 100000 --clients 10000'"

Not part of the default `make bench` (bench/run.py runs it only when named with --only).
The synthetic broker of bench/generate_broker.py (seed 7: the clients' journeys, then later
trading on their accounts until --events) is written to bench/out/million/events.jsonl
(--reuse keeps a file of the same size and seed; the run's progress is appended to
progress.jsonl beside it every 5 s), then goes through the path a backfill
takes: `fxcrm events ingest` (engine.processing.ingest.ingest_lines: validated, stored in
batches, each batch's clients handed to processing after its commit) into a fresh
database with the shipped rules, processed by --workers rq workers on PostgreSQL (the
bulk queue) or, on SQLite, inline by the ingesting process (embedded mode). Measured
from the first line read to the last event processed: events/s overall and per tenth of
the run (does the cost grow with the history?); the memory (PSS) of the processing
processes every second (each rq worker with its sweeper and scheduler, or the ingesting
process itself), after a warm-up of --warm-up of the run and at the end. Prints one JSON
object. Not a test: see docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# The later trading runs weeks after the journeys (history_start is tomorrow).
os.environ["FXCRM_EVENT_MAX_AHEAD"] = "120d"

from generate_broker import write  # noqa: E402
from pipeline_load import MemorySampler, app_env, cpu_seconds  # noqa: E402
from pipeline_setup import REDIS_URL, drop_database, fresh_database  # noqa: E402

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from engine.db import Database  # noqa: E402


class Progress(threading.Thread):
    """Every `interval` s: (seconds since start, events stored, events not pending)."""

    def __init__(self, url: str, start: float, interval: float = 5.0, log: Path | None = None, sampler=None):
        super().__init__(daemon=True)
        self.engine = create_engine(url, poolclass=NullPool)
        self.start_at, self.interval = start, interval
        self.points: list[tuple[float, int, int]] = []
        self.stop = threading.Event()
        # A line per look (seconds, stored, processed, memory MB) written as the run goes,
        # so a run stopped before its end (hours long) still leaves its record.
        self.log, self.sampler = log, sampler

    def look(self) -> tuple[int, int]:
        with self.engine.connect() as conn:
            total, pending = conn.execute(
                text("SELECT count(*), count(*) FILTER (WHERE status = 'pending') FROM events")
                if self.engine.dialect.name == "postgresql"
                else text("SELECT count(*), sum(status = 'pending') FROM events")
            ).one()
        return total, pending or 0

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                total, pending = self.look()
            except Exception:  # SQLite busy under the ingest's write lock: look again later
                continue
            self.points.append((time.perf_counter() - self.start_at, total, total - pending))
            if self.log is not None:
                self.write_line(*self.points[-1])

    def write_line(self, seconds: float, total: int, processed: int) -> None:
        samples = self.sampler.samples if self.sampler is not None else []
        mb = round(sum(samples[-1][1]) / 1024, 1) if samples else None
        line = {"s": round(seconds, 1), "stored": total, "processed": processed, "memory_mb": mb}
        with open(self.log, "a") as fh:
            fh.write(json.dumps(line) + "\n")


def tenths(points: list[tuple[float, int, int]], seconds: float) -> list[dict]:
    """Events/s processed in each tenth of the run's time (does the rate fall as the history
    grows?); the count at each tenth's end interpolated between the progress looks."""
    looks = [(0.0, 0)] + [(t, n) for t, _total, n in points]

    def at(t: float) -> float:
        for (t0, n0), (t1, n1) in zip(looks, looks[1:]):
            if t0 <= t <= t1:
                return n0 + (n1 - n0) * (t - t0) / max(t1 - t0, 1e-9)
        return looks[-1][1]

    step = seconds / 10
    marks = [at(k * step) for k in range(11)]
    return [
        {
            "until_s": round((k + 1) * step, 1),
            "processed": round(marks[k + 1]),
            "events_per_s": round((marks[k + 1] - marks[k]) / max(step, 1e-9), 1),
        }
        for k in range(10)
    ]


def memory(sampler: MemorySampler, warm: float) -> dict:
    """The sampler's summary after `warm` of the run, and a tenth-by-tenth series (MB)."""
    out = sampler.summary(warm_fraction=warm)
    totals = [(t, sum(v) / 1024) for t, v in sampler.samples]
    if totals:
        t0, span = totals[0][0], max(totals[-1][0] - totals[0][0], 1e-9)
        out["by_tenth_mb"] = [
            round(statistics.median([v for t, v in totals if k / 10 <= (t - t0) / span <= (k + 1) / 10] or [0]), 1)
            for k in range(10)
        ]
    return out


def run(args) -> dict:
    out_dir = Path(args.out)
    events_file = out_dir / "events.jsonl"
    meta_file = out_dir / "meta.json"
    wanted = {"events": args.events, "clients": args.clients, "seed": args.seed}
    if args.reuse and meta_file.exists() and json.loads(meta_file.read_text()).get("wanted") == wanted:
        generated = json.loads(meta_file.read_text())["generated"]
    else:
        generated = write(out_dir, args.clients, args.events, args.seed)
        meta_file.write_text(json.dumps({"wanted": wanted, "generated": generated}))
    url, cfg = fresh_database(args.db)
    queue = f"fxcrm-million-{uuid.uuid4().hex[:6]}"
    extra = {"FXCRM_BATCH": "1" if args.batch else "0"}
    workers = args.workers if args.db == "postgres" else 0
    if workers:
        extra |= {"FXCRM_REDIS_URL": REDIS_URL, "FXCRM_QUEUE_NAME": queue}
    env = app_env(url, extra)
    pool = None
    try:
        if workers:
            from faults import Workers

            pool = Workers(env, workers)
            time.sleep(3.0)  # connected, ruleset compiled
        from engine.processing.ingest import ingest_lines

        # This process ingests as `fxcrm events ingest` does: it enqueues for the workers, or
        # (embedded) processes each batch's clients itself after the batch's commit.
        overrides = {"redis_url": REDIS_URL, "queue_name": queue} if workers else {}
        database = Database(cfg.with_overrides(batch=bool(args.batch), **overrides))
        roots = [p.pid for p in pool.procs] if pool else [os.getpid()]
        sampler = MemorySampler(roots, interval=1.0)
        start = time.perf_counter()
        progress_log = out_dir / "progress.jsonl"
        progress_log.unlink(missing_ok=True)
        progress = Progress(url, start, log=progress_log, sampler=sampler)
        sampler.start()
        progress.start()
        cpu_before = sum(cpu_seconds(r) for r in roots) if pool else time.process_time()
        with open(events_file) as fh:
            report = ingest_lines(database, fh, via="file")
        ingest_s = time.perf_counter() - start
        while True:  # drain: every stored event processed (or parked)
            total, pending = progress.look()
            if pending == 0:
                break
            if time.perf_counter() - start > args.timeout:
                raise RuntimeError(f"{pending} events still pending after {args.timeout} s")
            time.sleep(1.0)
        seconds = time.perf_counter() - start
        progress.points.append((seconds, total, total))
        time.sleep(2.0)  # the sampler's last looks
        cpu = (sum(cpu_seconds(r) for r in roots) if pool else time.process_time()) - cpu_before
        sampler.stop.set()
        progress.stop.set()
        with progress.engine.connect() as conn:
            tables = {
                name: conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                for name in ("clients", "tasks", "account_activity", "ib_commissions", "rule_actions")
            }
            parked = conn.execute(text("SELECT count(*) FROM events WHERE status = 'parked'")).scalar_one()
        progress.engine.dispose()
        database.dispose()
    finally:
        if pool:
            pool.stop()
        drop_database(url)
    return {
        "benchmark": "million",
        "db": args.db,
        "workers": workers,
        "path": "set-based (FXCRM_BATCH=1)" if args.batch else "per event (FXCRM_BATCH=0)",
        "generated": generated,
        "lines": args.events,
        "stored": report.accepted,
        "duplicate": report.duplicate,
        "rejected": len(report.rejected),
        "parked": parked,
        "rows": tables,
        "ingest_seconds": round(ingest_s, 1),
        "seconds": round(seconds, 1),
        "events_per_s": round(report.accepted / seconds, 1),
        "by_tenth_of_time": tenths(progress.points, seconds),
        "processing_cpu_seconds": round(cpu, 1),
        "cpu_note": "rq workers with sweeper and scheduler"
        if pool
        else "the ingesting process, which also processes (embedded)",
        "memory": memory(sampler, args.warm_up),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--workers", type=int, default=2, help="rq workers (PostgreSQL)")
    parser.add_argument("--batch", type=int, choices=[0, 1], default=1, help="FXCRM_BATCH")
    parser.add_argument("--warm-up", type=float, default=0.2, help="fraction of the run before memory counts")
    parser.add_argument("--out", default=str(HERE / "out" / "million"))
    parser.add_argument("--reuse", action="store_true", help="keep an events file of the same size and seed")
    parser.add_argument("--timeout", type=float, default=6 * 3600)
    args = parser.parse_args()
    print(json.dumps(run(args)), flush=True)


if __name__ == "__main__":
    main()
