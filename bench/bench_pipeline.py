"""End-to-end pipeline benchmark over real HTTP: throughput, webhook and task latency, memory.

For each configuration (sqlite-embedded; postgres-1w, -2w, and with --config pg4 -4w:
PostgreSQL with rq workers) a fresh database gets the shipped rules and a gunicorn server running the app.
Two loads run at once:
- bulk: the synthetic broker (engine.demo.BrokerGenerator, fixed seed, --clients) posted
  to POST /api/events in batches of 200, as a broker's own systems would;
- deliveries: --latency-clients more clients sent one delivery per request from
  --threads threads: Stripe and Sumsub webhooks, signed, and the other events as
  single POST /api/events.
Then ("steady") --steady-clients more clients are delivered one per request at
--steady-rate deliveries/s, a rate every configuration keeps up with.
Measured: events/s from the first request to the last event of the two loads processed
(every task committed); response time p50/p99 of webhooks and single API posts under
that load; latency from a delivery's 2xx to the task its event creates being readable
in the database (polled every 20 ms), under the load (when it queues behind the bulk
work) and steady; the memory (PSS) of the processing processes (the rq workers with
their sweeper and rq scheduler, or the embedded server) over the whole run, sampled
every 0.25 s. The raw rule-evaluation rate of the same shipped ruleset on the same events
(matching only, facts loaded beforehand, CPU time of this process) is measured in the
same run, and the ratio printed.
Each configuration runs twice on the same events: with the set-based path (FXCRM_BATCH=1,
the figures above) and with every event per event (FXCRM_BATCH=0; no steady phase), on
fresh databases; `ratio_to_per_event` compares their events/s, and both runs must leave
the same row counts. `copy_floor` (bench/copy_floor.py) writes again, in bulk, the rows
the set-based run's processing wrote (COPY on PostgreSQL, executemany on SQLite) and
`ratio_to_copy` divides the end-to-end seconds by its time. `targets` says which of the
issue-20 targets were met. One JSON object per configuration.
Not a test: see docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pipeline_setup import REDIS_URL, drop_database, fresh_database, generate  # noqa: E402
from copy_floor import copy_floor, table_counts, written_tables  # noqa: E402
from pipeline_load import (  # noqa: E402
    Deliverer,
    MemorySampler,
    Server,
    TaskWatcher,
    app_env,
    cpu_seconds,
    delivery,
    percentiles,
    post_batches,
)

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from engine.db import Database, unit_of_work  # noqa: E402
from engine.events.models import Event  # noqa: E402

CONFIGS = {
    "sqlite": ("sqlite-embedded", "sqlite", 0),
    "pg1": ("postgres-1w", "postgres", 1),
    "pg2": ("postgres-2w", "postgres", 2),
    "pg4": ("postgres-4w", "postgres", 4),
}


def admin_token(database: Database) -> str:
    from engine.users import service as users

    with unit_of_work(database) as s:
        user, _ = users.create(s, email="bench@fxcrm.local", role="admin", password="load-Test-pass-9137")
        return users.create_token(s, user)


def observer(url: str):
    """A plain engine for watching the run: on SQLite its reads take no write lock.

    The app's engines begin every SQLite transaction with BEGIN IMMEDIATE; polling
    through one of them would compete with the server for the write lock.
    """
    return create_engine(url, poolclass=NullPool) if url.startswith("sqlite") else create_engine(url)


def counts(engine) -> tuple[int, int, int]:
    """Pending events, all events, tasks."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM events WHERE status = 'pending'),"
                " (SELECT count(*) FROM events), (SELECT count(*) FROM tasks)"
            )
        ).one()
    return tuple(row)


def rule_rate(database: Database, limit: int = 20000, repeat: int = 5) -> dict:
    """Events/s of matching the active ruleset alone on the run's events (CPU time, best pass)."""
    from engine.clients.models import Client
    from engine.rules import activation
    from engine.rules.evaluation import FactLoader
    from engine.rules.literals import epoch
    from engine.rules.runtime import envelope

    with unit_of_work(database) as s:
        matcher = activation.current(s).matcher
        clients = {c.ref: c for c in s.scalars(select(Client))}
        prepared = []
        for event in s.scalars(select(Event).order_by(Event.seq).limit(limit)):
            reads = matcher.reads(event.type)
            facts = dict(FactLoader(s, clients[event.client_ref], event.occurred_at).load(reads)) if reads else {}
            prepared.append((event.type, envelope(event), facts, epoch(event.occurred_at)))
    rules_for = matcher.ruleset.rules_for
    best = 0.0
    for _ in range(repeat):
        start = time.process_time()
        for etype, env, facts, now in prepared:
            if rules_for(etype):  # as the runtime: a type no rule reacts to is not matched
                matcher.match(etype, matcher.read(env, facts, now))
        best = max(best, len(prepared) / max(time.process_time() - start, 1e-9))
    with_rules = sum(1 for p in prepared if rules_for(p[0]))
    return {
        "events": len(prepared),
        "events_with_rules": with_rules,
        "events_per_s": round(best),
        "method": f"RuleMatcher.read+match of the shipped ruleset, facts preloaded, CPU s, best of {repeat}",
    }


def drain(engine, name: str, timeout: float) -> None:
    """Wait until no event is pending."""
    deadline = time.monotonic() + timeout
    while counts(engine)[0] > 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: events still pending after {timeout} s")
        time.sleep(0.05)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_config(
    key: str, bulk: list[str], deliveries: list, steady: list, args, *, batch: bool = True
) -> tuple[dict, Database]:
    """Run one configuration; return its figures and its (still existing) database.

    `batch` is FXCRM_BATCH (the set-based path, or every event per event); with no
    `steady` deliveries the steady phase is left out."""
    name, kind, workers = CONFIGS[key]
    queue = f"fxcrm-bench-{uuid.uuid4().hex[:6]}"
    extra = {"FXCRM_REDIS_URL": REDIS_URL, "FXCRM_QUEUE_NAME": queue} if workers else {}
    extra["FXCRM_BATCH"] = "1" if batch else "0"
    url, cfg = fresh_database(kind)
    database = Database(cfg)
    token = admin_token(database)
    tables_before = table_counts(url)
    env = app_env(url, extra)
    server = Server(env, threads=args.server_threads)
    pool = None
    if workers:
        from faults import Workers

        pool = Workers(env, workers)
        time.sleep(2.0)  # workers connected and warmed up (ruleset compiled before forking)
    roots = [p.pid for p in pool.procs] if pool else [server.app_pid()]
    load_before = load_average()
    server_cpu = cpu_seconds(server.proc.pid)
    watching = observer(url)
    sampler, watcher = MemorySampler(roots), TaskWatcher(watching)
    sampler.start()
    watcher.start()
    try:
        sender = Deliverer(server.port, token, deliveries, args.threads)
        start = time.perf_counter()
        batch_times: list[float] = []
        loader = threading.Thread(target=lambda: batch_times.extend(post_batches(server.port, token, bulk)))
        loader.start()
        sender.start()
        loader.join()
        sender.join()
        ingest_s = time.perf_counter() - start
        drain(watching, name, args.timeout)
        elapsed = time.perf_counter() - start
        loaded_events = counts(watching)[1]
        tables_loaded = table_counts(url)  # what the two loads wrote (the steady phase adds more)
        # The same rows written in bulk, on this database while the server and workers idle.
        floor = copy_floor(url, written_tables(tables_before, tables_loaded)) if batch else None
        # Then deliveries at a steady rate the configuration keeps up with: the latency
        # of a task when nothing queues ahead of it.
        paced = Deliverer(server.port, token, steady, args.threads, rate=args.steady_rate)
        paced.start()
        paced.join()
        drain(watching, name, args.timeout)
        time.sleep(0.3)  # the watcher's and the sampler's last look
        server_cpu = cpu_seconds(server.proc.pid) - server_cpu
    finally:
        watcher.stop.set()
        sampler.stop.set()
        if pool:
            pool.stop()
        server.stop()
    pending, total, tasks = counts(watching)
    with watching.connect() as conn:  # failed for good (both paths should park the same events)
        parked = conn.execute(text("SELECT count(*) FROM events WHERE status = 'parked'")).scalar_one()
    watching.dispose()

    def latencies(sent: Deliverer) -> list[float]:
        return [
            seen - sent.accepted_at[k.rsplit(":", 2)[0]]
            for k, seen in watcher.seen.items()
            if k.rsplit(":", 2)[0] in sent.accepted_at
        ]

    return {
        "config": name,
        "workers": workers,
        "path": "set-based (FXCRM_BATCH=1)" if batch else "per event (FXCRM_BATCH=0)",
        "clients": args.clients + args.latency_clients + args.steady_clients,
        "events": loaded_events,
        "events_with_steady": total,
        "pending_after": pending,
        "parked_after": parked,
        "tasks": tasks,
        "delivery_errors": sender.errors[:5],
        "ingest_seconds": round(ingest_s, 2),
        "seconds": round(elapsed, 2),
        "events_per_s": round(loaded_events / elapsed, 1),
        "webhook_response": percentiles(sender.times["webhook"]),
        "api_single_response": percentiles(sender.times["api"]),
        "api_batch_200_response": percentiles(batch_times),
        "webhook_to_visible_task": {**percentiles(latencies(sender)), "poll_interval_ms": 20},
        "steady": {
            "deliveries_per_s": args.steady_rate,
            "webhook_response": percentiles(paced.times["webhook"]),
            "webhook_to_visible_task": percentiles(latencies(paced)),
        },
        "memory": sampler.summary(),
        # CPU seconds do not depend on what else the machine runs as wall time does.
        "cpu_seconds": {
            "processing": round(sampler.cpu_end - sampler.cpu_start, 1),
            "web_server": round(server_cpu, 1),
            "processing_events_per_cpu_s": round(total / max(sampler.cpu_end - sampler.cpu_start, 1e-9), 1),
            "note": "processing: rq workers with sweeper and scheduler, or the embedded "
            "server (which also serves HTTP); PostgreSQL's own CPU not included",
        },
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "copy_floor": floor,
        "_tables": {"before": tables_before, "loaded": tables_loaded},
    }, database


def machine() -> dict:
    from bench_rules import machine as rules_machine

    return {**rules_machine(), "platform": platform.platform()}


# The issue-20 targets on this machine: events/s end to end by configuration, the ratio to
# the per-event path of the same run, end to end within this many times the bulk write of
# the same rows, webhook to visible task p99 under the bulk load. Memory growth after
# warm-up is this benchmark's own bound for "flat".
EVENTS_PER_S = {"sqlite": 2000, "pg2": 3000}
RATIO_TO_PER_EVENT, WITHIN_COPY, TASK_P99_MS, MEMORY_GROWTH_PCT = 20.0, 5.0, 1000.0, 5.0


def targets(key: str, out: dict) -> dict:
    """Each target with its value and whether it was met (None: not measured)."""
    found = {}
    if key in EVENTS_PER_S:
        found["events_per_s"] = {
            "target": f">= {EVENTS_PER_S[key]}",
            "value": out["events_per_s"],
            "met": out["events_per_s"] >= EVENTS_PER_S[key],
        }
    ratio = out.get("ratio_to_per_event")
    found["ratio_to_per_event"] = {
        "target": f">= {RATIO_TO_PER_EVENT:g}",
        "value": ratio,
        "met": None if ratio is None else ratio >= RATIO_TO_PER_EVENT,
    }
    copy = out.get("ratio_to_copy")
    found["within_copy"] = {
        "target": f"seconds end to end <= {WITHIN_COPY:g} x copy_floor.seconds",
        "value": copy,
        "met": None if copy is None else copy <= WITHIN_COPY,
    }
    p99 = out["webhook_to_visible_task"].get("p99_ms")
    found["webhook_to_visible_task_p99_ms"] = {
        "target": f"< {TASK_P99_MS:g}",
        "value": p99,
        "met": None if p99 is None else p99 < TASK_P99_MS,
    }
    growth = out["memory"].get("growth_pct")
    found["memory_growth_after_warm_up_pct"] = {
        "target": f"<= {MEMORY_GROWTH_PCT:g}",
        "value": growth,
        "met": None if growth is None else growth <= MEMORY_GROWTH_PCT,
    }
    return found


def compare(key: str, out: dict, per: dict) -> None:
    """Put the per-event run's figures, the ratios and the targets into `out`."""
    out["per_event"] = {
        k: per[k]
        for k in (
            "path",
            "events",
            "tasks",
            "pending_after",
            "parked_after",
            "seconds",
            "events_per_s",
            "webhook_to_visible_task",
            "cpu_seconds",
            "memory",
            "load_average_before",
            "load_average_after",
        )
    }
    out["ratio_to_per_event"] = round(out["events_per_s"] / max(per["events_per_s"], 1e-9), 2)
    floor = out["copy_floor"]
    out["ratio_to_copy"] = round(out["seconds"] / max(floor["seconds"], 1e-9), 1)
    out["per_event"]["ratio_to_copy"] = round(per["seconds"] / max(floor["seconds"], 1e-9), 1)
    # Both paths must have written the same rows (the copy floor is of the set-based run's).
    mine, theirs = out.pop("_tables")["loaded"], per.pop("_tables")["loaded"]
    out["same_row_counts_as_per_event"] = mine == theirs
    if mine != theirs:
        out["row_count_differences"] = {
            n: [mine.get(n), theirs.get(n)] for n in sorted(set(mine) | set(theirs)) if mine.get(n) != theirs.get(n)
        }
    out["targets"] = targets(key, out)
    out["targets_met"] = all(t["met"] for t in out["targets"].values() if t["met"] is not None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=600, help="bulk clients (~9.5 events each)")
    parser.add_argument(
        "--latency-clients",
        type=int,
        default=40,
        help="clients sent one delivery per request (webhooks, single API posts)",
    )
    parser.add_argument("--threads", type=int, default=3, help="threads sending single deliveries")
    parser.add_argument(
        "--steady-clients",
        type=int,
        default=40,
        help="clients delivered afterwards at --steady-rate (latency without a queue)",
    )
    parser.add_argument("--steady-rate", type=float, default=20.0, help="deliveries per second")
    parser.add_argument("--server-threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--config", nargs="*", choices=list(CONFIGS), default=["sqlite", "pg1", "pg2"])
    parser.add_argument(
        "--no-per-event", action="store_true", help="leave out the per-event run (FXCRM_BATCH=0) of each configuration"
    )
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    bulk = generate(args.clients, args.seed)
    singles = [json.loads(line) for line in generate(args.latency_clients, args.seed + 1, first=args.clients + 1)]
    deliveries = [delivery(env) for env in singles]
    steady = [
        delivery(json.loads(line))
        for line in generate(args.steady_clients, args.seed + 2, first=args.clients + args.latency_clients + 1)
    ]
    rate = None
    for key in args.config:
        out, database = run_config(key, bulk, deliveries, steady, args)
        try:
            if rate is None:  # the same ruleset and events in every configuration: measure once
                rate = rule_rate(database)
            out["rule_evaluation"] = rate
            out["ratio_to_rule_rate"] = round(out["events_per_s"] / rate["events_per_s"], 4)
        finally:
            database.dispose()
            drop_database(database.config.database_url)
        if not args.no_per_event:  # the same events through the per-event path, no steady phase
            per, database = run_config(key, bulk, deliveries, [], args, batch=False)
            database.dispose()
            drop_database(database.config.database_url)
            compare(key, out, per)
        else:
            out.pop("_tables")
            out["targets"] = targets(key, out)
        out["machine"] = machine()
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
