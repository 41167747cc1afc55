"""Write a simulated broker (fixed seed) as canonical events and as provider payloads.

Run: .venv/bin/python bench/generate_broker.py [--clients 100000] [--events 1000000]
     [--out bench/out/broker] [--ingest sqlite|postgres]
Writes events.jsonl (canonical events, one per line, each client's journey in time
order, then later trading until --events) and deliveries.jsonl (what each event is
on the wire: a Stripe or Sumsub webhook body with its headers, or a POST /api/events
body; Stripe signs the send time, so its signature is added when sent, as
bench/pipeline_load.py does). With --ingest it then stores events.jsonl in a fresh
database without processing (the event store alone). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from faults import _stripe, _sumsub  # noqa: E402
from pipeline_setup import drop_database, fresh_database, history_start  # noqa: E402

from engine.db import Database  # noqa: E402
from engine.demo import BrokerGenerator  # noqa: E402

WEBHOOKS = {"payment.deposit_completed": _stripe, "payment.deposit_failed": _stripe, "kyc.review_completed": _sumsub}


def wire(env: dict, line: str) -> str:
    """Return the delivery of one event as a JSON line: path, headers, body."""
    build = WEBHOOKS.get(env["type"])
    if build is None:
        return json.dumps({"path": "/api/events", "headers": {}, "body": line})
    provider, headers, body = build(env)
    return json.dumps({"path": f"/webhooks/{provider}", "headers": headers, "body": body.decode()})


def write(out: Path, clients: int, events: int, seed: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    gen = BrokerGenerator(seed, start=history_start(), span_days=28)
    count, webhooks = 0, 0
    start = time.perf_counter()
    with open(out / "events.jsonl", "w") as ev_fh, open(out / "deliveries.jsonl", "w") as wire_fh:
        for env in gen.events(clients, total=events):
            line = json.dumps(env, separators=(",", ":"))
            ev_fh.write(line + "\n")
            wire_fh.write(wire(env, line) + "\n")
            count += 1
            webhooks += env["type"] in WEBHOOKS
    seconds = time.perf_counter() - start
    return {
        "clients": clients,
        "events": count,
        "webhook_deliveries": webhooks,
        "generate_seconds": round(seconds, 1),
        "generate_events_per_s": round(count / seconds),
        "events_mb": round((out / "events.jsonl").stat().st_size / 2**20, 1),
        "deliveries_mb": round((out / "deliveries.jsonl").stat().st_size / 2**20, 1),
    }


def ingest(path: Path, kind: str) -> dict:
    """Store the events file in a fresh database without processing it."""
    from pipeline_setup import store_only

    url, cfg = fresh_database(kind)
    try:
        db = Database(cfg)
        start, cpu = time.perf_counter(), time.process_time()
        with open(path) as fh:
            refs, stored = store_only(db, fh, batch=cfg.ingest_batch)
        seconds = time.perf_counter() - start
        db.dispose()
        return {
            "ingest_db": kind,
            "stored": stored,
            "clients_created": len(refs),
            "ingest_seconds": round(seconds, 1),
            "ingest_events_per_s": round(stored / seconds),
            "ingest_cpu_seconds": round(time.process_time() - cpu, 1),
        }
    finally:
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(HERE / "out" / "broker"))
    parser.add_argument("--ingest", choices=["sqlite", "postgres"], nargs="*", default=[])
    args = parser.parse_args()
    out = Path(args.out)
    result = write(out, args.clients, args.events, args.seed)
    for kind in args.ingest:
        result[kind] = ingest(out / "events.jsonl", kind)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
