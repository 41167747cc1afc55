"""Rule evaluation throughput: our engine vs raw durable-rules vs plain Python predicates.

Run: .venv/bin/python bench/bench_rules.py [--events N] [--repeat R]
Prints one JSON object: events per CPU second (process time, so time spent waiting
for a core taken by another process does not count), best and median of --repeat
passes, each alternating the three variants every 500 events. "engine" is the whole per-event path a worker runs: reading
raw event data and facts into comparable values (decimal strings to integer units,
times to epoch seconds), durable-rules matching of the compiled 20-rule set, and
retraction. "raw_durable" asserts and retracts facts that were converted before
the clock started, against 20 hand-written durable-rules JSON rules, through the
same C API calls. "python" runs 20 hand-written predicates on the raw events.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import durable_rules_engine as dre  # noqa: E402

from engine.facts import FactSpec, load_domain_facts  # noqa: E402
from engine.rules.compiler import compile_ruleset  # noqa: E402
from engine.rules.matcher import RuleMatcher  # noqa: E402
from engine.rules.reading import build_reader  # noqa: E402

UTC = timezone.utc
NOW = datetime(2024, 6, 1, tzinfo=UTC)
COUNT = "count(payment.deposit_failed within 3600s)"

# id, event type, condition (YAML), hand-written durable JSON body, Python predicate(event, facts)
D = Decimal
RULES = [
    (
        "big-failed",
        "payment.deposit_failed",
        '"event.amount >= 1000 USD"',
        {"$and": [{"event.amount:currency": "USD"}, {"$gte": {"event.amount": 100_000_000_000}}]},
        lambda e, f: e["currency"] == "USD" and D(e["amount"]) >= 1000,
    ),
    (
        "card-declined",
        "payment.deposit_failed",
        '"event.reason_code == card_declined"',
        {"event.reason_code": "card_declined"},
        lambda e, f: e.get("reason_code") == "card_declined",
    ),
    (
        "funds",
        "payment.deposit_failed",
        '"event.reason_code in [insufficient_funds, limit_exceeded]"',
        {"$or": [{"event.reason_code": "insufficient_funds"}, {"event.reason_code": "limit_exceeded"}]},
        lambda e, f: e.get("reason_code") in ("insufficient_funds", "limit_exceeded"),
    ),
    (
        "stuck",
        "payment.deposit_failed",
        f'"{COUNT.replace("3600s", "1h")} >= 3"',
        {"$gte": {COUNT: 300_000_000}},
        lambda e, f: f[COUNT] >= 3,
    ),
    (
        "failed-approved",
        "payment.deposit_failed",
        '["client.status == approved", "event.amount >= 50 EUR"]',
        {
            "$and": [
                {"client.status": "approved"},
                {"event.amount:currency": "EUR"},
                {"$gte": {"event.amount": 5_000_000_000}},
            ]
        },
        lambda e, f: f["client.status"] == "approved" and e["currency"] == "EUR" and D(e["amount"]) >= 50,
    ),
    (
        "crypto-failed",
        "payment.deposit_failed",
        '"event.method == crypto"',
        {"event.method": "crypto"},
        lambda e, f: e["method"] == "crypto",
    ),
    (
        "first-deposit",
        "payment.deposit_completed",
        '"event.amount between 10 USD and 100000 USD"',
        {
            "$and": [
                {"event.amount:currency": "USD"},
                {"$gte": {"event.amount": 1_000_000_000}},
                {"$lte": {"event.amount": 10_000_000_000_000}},
            ]
        },
        lambda e, f: e["currency"] == "USD" and D(10) <= D(e["amount"]) <= D(100000),
    ),
    (
        "large-deposit",
        "payment.deposit_completed",
        '"event.amount > 10000 EUR"',
        {"$and": [{"event.amount:currency": "EUR"}, {"$gt": {"event.amount": 1_000_000_000_000}}]},
        lambda e, f: e["currency"] == "EUR" and D(e["amount"]) > 10000,
    ),
    (
        "unverified-deposit",
        "payment.deposit_completed",
        '{not: "client.kyc.status == approved"}',
        {"$neq": {"client.kyc.status": "approved"}},
        lambda e, f: f["client.kyc.status"] != "approved",
    ),
    (
        "wire",
        "payment.deposit_completed",
        '"event.method in [wire, sepa]"',
        {"$or": [{"event.method": "wire"}, {"event.method": "sepa"}]},
        lambda e, f: e["method"] in ("wire", "sepa"),
    ),
    (
        "referenced",
        "payment.deposit_completed",
        '"event.reference exists"',
        {"$ex": {"event.reference": 1}},
        lambda e, f: e.get("reference") is not None,
    ),
    (
        "high-risk-deposit",
        "payment.deposit_completed",
        '["client.risk_category == high", "event.amount >= 500 USD"]',
        {
            "$and": [
                {"client.risk_category": "high"},
                {"event.amount:currency": "USD"},
                {"$gte": {"event.amount": 50_000_000_000}},
            ]
        },
        lambda e, f: f["client.risk_category"] == "high" and e["currency"] == "USD" and D(e["amount"]) >= 500,
    ),
    (
        "big-lots",
        "trade.closed",
        '"event.volume_lots >= 10"',
        {"$gte": {"event.volume_lots": 1_000_000_000}},
        lambda e, f: D(e["volume_lots"]) >= 10,
    ),
    (
        "big-loss",
        "trade.closed",
        '"event.profit < -5000"',
        {"$lt": {"event.profit": -500_000_000_000}},
        lambda e, f: D(e["profit"]) < -5000,
    ),
    (
        "gold",
        "trade.closed",
        '"event.symbol in [XAUUSD, XAGUSD]"',
        {"$or": [{"event.symbol": "XAUUSD"}, {"event.symbol": "XAGUSD"}]},
        lambda e, f: e["symbol"] in ("XAUUSD", "XAGUSD"),
    ),
    (
        "new-client-trade",
        "trade.closed",
        '"client.registered_at within 30d"',
        {"$lte": {"client.registered_at:age": 2_592_000}},
        lambda e, f: (NOW - f["client.registered_at"]).total_seconds() <= 2_592_000,
    ),
    (
        "micro",
        "trade.closed",
        '{any: ["event.volume_lots < 0.01", "event.profit > 100000"]}',
        {"$or": [{"$lt": {"event.volume_lots": 1_000_000}}, {"$gt": {"event.profit": 10_000_000_000_000}}]},
        lambda e, f: D(e["volume_lots"]) < D("0.01") or D(e["profit"]) > 100000,
    ),
    (
        "kyc-rejected",
        "kyc.review_completed",
        '"event.result == rejected"',
        {"event.result": "rejected"},
        lambda e, f: e["result"] == "rejected",
    ),
    (
        "kyc-retry-approved",
        "kyc.review_completed",
        '["event.result == retry", "client.status == approved"]',
        {"$and": [{"event.result": "retry"}, {"client.status": "approved"}]},
        lambda e, f: e["result"] == "retry" and f["client.status"] == "approved",
    ),
    (
        "kyc-any",
        "kyc.review_completed",
        '"event.provider != manual"',
        {"$neq": {"event.provider": "manual"}},
        lambda e, f: e["provider"] != "manual",
    ),
]
TYPES = sorted({r[1] for r in RULES})


def ruleset_yaml() -> str:
    body = "".join(
        f"  - id: {rid}\n    description: bench\n    when: {etype}\n    if: {cond}\n    then: [{{notify: bench}}]\n"
        for rid, etype, cond, _, _ in RULES
    )
    return "ruleset: bench\ndescription: 20 rules\nrules:\n" + body


def make_events(n: int, rng: random.Random) -> list[tuple[dict, dict]]:
    """Return (event, facts) pairs with raw values as the runtime holds them."""
    out = []
    for i in range(n):
        etype = TYPES[i % len(TYPES)]
        amount = f"{rng.choice([5, 20, 75, 600, 1500, 25000])}.{rng.randint(0, 99):02d}"
        data = {
            "payment.deposit_failed": lambda: {
                "payment_id": f"p{i}",
                "amount": amount,
                "currency": rng.choice(["USD", "EUR"]),
                "method": rng.choice(["card", "crypto", "wire"]),
                "provider": "stripe",
                "reason_code": rng.choice(["card_declined", "insufficient_funds", "do_not_honor"]),
            },
            "payment.deposit_completed": lambda: {
                "payment_id": f"p{i}",
                "amount": amount,
                "currency": rng.choice(["USD", "EUR"]),
                "method": rng.choice(["card", "wire", "sepa"]),
                "provider": "stripe",
                **({"reference": f"R{i}"} if rng.random() < 0.5 else {}),
            },
            "trade.closed": lambda: {
                "account_id": "A1",
                "ticket": str(i),
                "symbol": rng.choice(["EURUSD", "XAUUSD", "GBPJPY"]),
                "side": "buy",
                "volume_lots": rng.choice(["0.005", "0.10", "1.00", "12.50"]),
                "open_time": "2024-05-31T10:00:00Z",
                "close_time": "2024-05-31T10:05:00Z",
                "profit": rng.choice(["-6000.50", "-10.00", "25.30", "150000.00"]),
            },
            "kyc.review_completed": lambda: {
                "provider": rng.choice(["sumsub", "manual"]),
                "result": rng.choice(["approved", "rejected", "retry"]),
            },
        }[etype]()
        facts = {
            "client.status": rng.choice(["pending", "approved"]),
            "client.kyc.status": rng.choice(["pending", "approved"]),
            "client.risk_category": rng.choice(["low", "high"]),
            "client.registered_at": NOW - timedelta(days=rng.choice([3, 45])),
            COUNT: rng.choice([0, 1, 3, 5]),
        }
        out.append(({"type": etype, "data": data}, facts))
    return out


def bench_facts() -> dict:
    facts = dict(load_domain_facts())
    for name, kind in (("risk_category", "enum"),):
        facts.setdefault(name, FactSpec(name, kind, lambda *a: None, ("low", "medium", "high")))
    return facts


class Engine:
    """Our path: RuleMatcher reads exactly the values the type's rules read, durable-rules matches."""

    def __init__(self):
        self.ruleset = compile_ruleset({"bench.yaml": ruleset_yaml()}, facts=bench_facts())
        self.matcher = RuleMatcher(self.ruleset)
        self.now = int(NOW.timestamp())

    def run(self, event: dict, facts: dict) -> list:
        return self.matcher.match(event["type"], self.matcher.read(event, facts, self.now))


class RawDurable:
    """Hand-written durable-rules JSON, facts converted before timing, same C API calls."""

    def __init__(self):
        rules = {rid: {"all": [{"m": {"$and": [{"t": etype}, body]}}]} for rid, etype, _, body, _ in RULES}
        self.handle = dre.create_ruleset("raw_bench", json.dumps(rules, ensure_ascii=False))
        self.ids = itertools.count(1)

    def run(self, fact: dict) -> set[str]:
        fact["sid"], fact["id"] = "0", next(self.ids)
        payload = json.dumps(fact, ensure_ascii=False)
        code, state = dre.assert_fact(self.handle, payload)
        fired = set()  # an $or fires once per true branch: count each rule once
        message = dre.start_action_for_state(self.handle, state) if code == 0 else None
        message = message and message[1]
        while message:
            fired.add(message[2 : message.index('"', 2)])
            message = dre.complete_and_start_action(self.handle, state)
        dre.retract_fact(self.handle, payload)
        return fired


def preconvert(engine: Engine, event: dict, facts: dict) -> dict:
    """Convert outside the timed loop, as a hand-written integration would have to."""
    flat = build_reader(engine.matcher.reads(event["type"]))(event, facts, engine.now)
    flat["t"] = event["type"]
    return flat


PREDICATES = {t: [(rid, pred) for rid, etype, _, _, pred in RULES if etype == t] for t in TYPES}


def python_run(event: dict, facts: dict) -> list[str]:
    data = event["data"]
    return [rid for rid, pred in PREDICATES[event["type"]] if pred(data, facts)]


def chunk_seconds(fn, items) -> float:
    """Return the CPU seconds of this process spent on `items` (waiting for a core does not count)."""
    start = time.process_time()
    for item in items:
        fn(*item)
    return time.process_time() - start


def machine() -> dict:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "durable_rules": "2.0.28"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    engine, raw = Engine(), RawDurable()
    events = make_events(args.events, random.Random(7))
    flat = [(preconvert(engine, e, f),) for e, f in events]
    for (e, f), (fact,) in zip(events, flat):  # all three agree before anything is timed
        expected = sorted(python_run(e, f))
        assert sorted(r.id for r in engine.run(e, f)) == expected == sorted(raw.run(dict(fact))), (e, f)
    runs = {"engine": [], "raw_durable": [], "python": []}
    variants = {
        "engine": (engine.run, events),
        "raw_durable": (lambda fact: raw.run(dict(fact)), flat),
        "python": (python_run, events),
    }
    chunk = 500
    for _ in range(args.repeat):
        # Alternate the three every 500 events, so load from other processes on this
        # shared machine falls on all of them alike; sum CPU time per variant.
        spent = dict.fromkeys(variants, 0.0)
        for start in range(0, len(events), chunk):
            for name, (fn, items) in variants.items():
                spent[name] += chunk_seconds(fn, items[start : start + chunk])
        for name in variants:
            runs[name].append(len(events) / spent[name])
    best = {k: round(max(v)) for k, v in runs.items()}
    median = {k: round(statistics.median(v)) for k, v in runs.items()}
    print(
        json.dumps(
            {
                "benchmark": "rule evaluation, 20 rules",
                "events": args.events,
                "repeat": args.repeat,
                "events_per_second_best": best,
                "events_per_second_median": median,
                "engine_overhead_vs_raw_durable_pct": round((best["raw_durable"] / best["engine"] - 1) * 100, 1),
                "engine_overhead_median_pct": round((median["raw_durable"] / median["engine"] - 1) * 100, 1),
                "matches_per_event": round(sum(len(python_run(e, f)) for e, f in events) / len(events), 2),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
