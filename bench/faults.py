"""Fault suite (`make faults`): the same broker workload with and without faults.

Every run uses a fresh PostgreSQL database, rq workers on Redis and the shipped rules.
Deliveries go through the real HTTP endpoints (Stripe and Sumsub webhooks, signed; the
rest through POST /api/events). A run without faults is the reference; each fault run
must end in an equivalent state. Equivalence is defined on the outcomes a broker cares
about (EQUIVALENCE, each a multiset that does not depend on ids or timing):

- `events`: every event stored exactly once;
- `balances`: the non-zero balance of every ledger account and currency;
- `commissions_net`: the net commission per IB, client and currency (a CPA and its
  reversal net to nothing, as does a hold and its release);
- `open_tasks`: the open tasks per client, rule and queue;
- `clients`: every client's status, KYC status, funnel stage and risk category;
- `notifications`: what each client was told (template and channel), exactly once.

The run fails (exit 1) when any of these differ. The records behind them (every
task, commission row and ledger entry, RECORDS) may legitimately differ when delivery
order changes the path but not the outcome (a hold and its release, a task opened and
closed again); their differences are printed on the same line as `records:` and never
hidden, but do not fail the run. One line per fault.

Faults: duplicate-and-shuffled deliveries, SIGKILLed workers, Redis stopped and
restarted during ingestion, PostgreSQL restarted during processing, a rules
activation in the middle of the run. The last two restart shared services: run this
alone, not beside other test runs.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The generated history runs days ahead of the wall clock (its timers must not fire during
# delivery); the input contract refuses events dated more than FXCRM_EVENT_MAX_AHEAD ahead.
os.environ.setdefault("FXCRM_EVENT_MAX_AHEAD", "30d")

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from engine import config as config_mod  # noqa: E402
from engine.db import Database, forget_databases, unit_of_work  # noqa: E402
from engine.demo import BrokerGenerator  # noqa: E402
from engine.events.models import PENDING, Event  # noqa: E402
from engine.migrate import upgrade  # noqa: E402
from engine.values import UTC  # noqa: E402

STRIPE_SECRET, SUMSUB_SECRET = "whsec_faults", "sumsub-faults"
PG_ADMIN = os.environ.get("FXCRM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("FXCRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


# ---- workload -----------------------------------------------------------------------


def _stripe(env: dict) -> tuple[str, dict, bytes]:
    d = env["data"]
    cents = int(Decimal(d["amount"]) * 100)  # USD: two decimals
    intent = {
        "id": d["payment_id"],
        "object": "payment_intent",
        "currency": d["currency"].lower(),
        "amount": cents,
        "amount_received": cents,
        "metadata": {"client_ref": env["client"]},
        "payment_method_types": ["card"],
    }
    kind = "payment_intent.succeeded"
    if env["type"] == "payment.deposit_failed":
        kind, intent["amount_received"] = "payment_intent.payment_failed", 0
        intent["last_payment_error"] = {"decline_code": d["reason_code"], "message": d["reason"]}
    created = int(datetime.fromisoformat(env["occurred_at"].replace("Z", "+00:00")).timestamp())
    body = {"id": "evt_" + env["id"], "object": "event", "type": kind, "created": created, "data": {"object": intent}}
    return "stripe", {}, json.dumps(body, separators=(",", ":")).encode()


def _sumsub(env: dict) -> tuple[str, dict, bytes]:
    d = env["data"]
    when = datetime.fromisoformat(env["occurred_at"].replace("Z", "+00:00"))
    review = {"reviewAnswer": "GREEN"}
    if d["result"] != "approved":
        review = {
            "reviewAnswer": "RED",
            "rejectLabels": d.get("labels", []),
            "reviewRejectType": "RETRY" if d["result"] == "retry" else "FINAL",
            "moderationComment": "Please upload a clear photo.",
        }
    body = {
        "applicantId": "a" + env["client"],
        "inspectionId": "i" + env["client"],
        "correlationId": env["id"],
        "externalUserId": env["client"],
        "levelName": "basic-kyc-level",
        "type": "applicantReviewed",
        "reviewResult": review,
        "reviewStatus": "completed",
        "createdAtMs": when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    digest = hmac.new(SUMSUB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return "sumsub", {"X-Payload-Digest": digest, "X-Payload-Digest-Alg": "HMAC_SHA256_HEX"}, raw


def workload(clients: int, seed: int, start: datetime) -> list[tuple]:
    """Return the deliveries: ("webhook", provider, headers, body) or ("api", envelope)."""
    out = []
    for env in BrokerGenerator(seed, start=start, span_days=3).events(clients):
        if env["type"] in ("payment.deposit_completed", "payment.deposit_failed"):
            out.append(("webhook", *_stripe(env)))
        elif env["type"] == "kyc.review_completed":
            out.append(("webhook", *_sumsub(env)))
        else:
            out.append(("api", env))
    return out


# ---- one run ------------------------------------------------------------------------


class Workers:
    """rq worker processes that can be killed and restarted."""

    def __init__(self, env: dict, count: int):
        self.env = env
        self.procs = [self._start() for _ in range(count)]

    def _start(self):
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "worker"],
            env=self.env,
            cwd=ROOT,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill_one(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.procs))
        os.killpg(self.procs[index].pid, signal.SIGKILL)
        self.procs[index].wait()
        self.procs[index] = self._start()

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            proc.wait(timeout=60)


class Run:
    """A fresh database, workers, an app; deliver, wait, snapshot, clean up."""

    def __init__(self, name: str, workers: int):
        self.name = name
        self.db_name = f"fxcrm_faults_{uuid.uuid4().hex[:8]}"
        self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
        self.url = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.db_name
        upgrade(self.url)
        self.cfg = config_mod.Config(
            database_url=self.url,
            redis_url=REDIS_URL,
            queue_name=f"faults-{self.db_name}",
            secret_key="faults",
            sweep_after_seconds=2.0,
            ticker_seconds=1.0,
            # A bulk loader, not a client to throttle: the faults under test are elsewhere.
            api_rate_limit="100000 per minute",
            secrets={"STRIPE_WEBHOOK_SECRET": STRIPE_SECRET, "SUMSUB_SECRET_KEY": SUMSUB_SECRET},
        )
        self.db = Database(self.cfg)
        self.token = self._setup()
        env = {
            **os.environ,
            "FXCRM_DATABASE_URL": self.url,
            "FXCRM_REDIS_URL": REDIS_URL,
            "FXCRM_QUEUE_NAME": self.cfg.queue_name,
            "FXCRM_SECRET_KEY": "faults",
            "FXCRM_SWEEP_AFTER_SECONDS": "2",
            "FXCRM_TICKER_SECONDS": "1",
        }
        self.workers = Workers(env, workers)
        from web import create_app

        # Not TESTING: a database outage must answer 500 (the provider retries), not raise.
        self.client = create_app({"TESTING": False, "FXCRM_CONFIG": self.cfg}).test_client()

    def _setup(self) -> str:
        from engine.rules import activation
        from engine.users import service as users

        activation.activate_dir(self.db, str(ROOT / "rules"), actor="faults")
        with unit_of_work(self.db) as s:
            # The suite signs in with a token only; the password just has to pass the
            # policy (which refuses one containing the e-mail address's name).
            user, _ = users.create(s, email="faults@fxcrm.local", role="admin", password=secrets.token_urlsafe(24))
            return users.create_token(s, user)

    def deliver(self, item: tuple) -> None:
        """Deliver one item, retrying like a provider until it gets a 2xx."""
        for attempt in range(120):
            if item[0] == "api":
                resp = self.client.post("/api/events", json=item[1], headers={"Authorization": f"Bearer {self.token}"})
            else:
                _kind, provider, headers, body = item
                headers = dict(headers)
                if provider == "stripe":
                    t = int(time.time())
                    sig = hmac.new(STRIPE_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
                    headers["Stripe-Signature"] = f"t={t},v1={sig}"
                resp = self.client.post(
                    f"/webhooks/{provider}", data=body, headers=headers, content_type="application/json"
                )
            if resp.status_code < 300:
                return
            if resp.status_code == 429:  # throttled: wait as a provider would, then retry
                time.sleep(float(resp.headers.get("Retry-After", "1")))
                continue
            if resp.status_code < 500:
                raise RuntimeError(
                    f"{item[0]} delivery refused: {resp.status_code} {resp.get_data(as_text=True)[:300]}"
                )
            time.sleep(0.5)  # the service is down: a provider retries later
        raise RuntimeError("delivery kept failing")

    def pending(self) -> int:
        with unit_of_work(self.db) as s:
            return s.scalar(select(func.count()).select_from(Event).where(Event.status == PENDING))

    def settle(self, final_time: datetime, timeout: float = 600) -> None:
        """Wait for the workers to drain, then fire every timer and drain again."""
        from engine.rules import timers

        deadline = time.monotonic() + timeout
        for fire in (False, True, True, False):
            while True:
                try:
                    if self.pending() == 0:
                        break
                except Exception:
                    pass  # the database is restarting
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name}: events still pending after {timeout}s")
                time.sleep(0.3)
            if fire:
                timers.fire_due(self.db, now=final_time)

    def close(self) -> None:
        self.workers.stop()
        from engine.processing.jobs import get_queue

        for bulk in (False, True):  # the live queue and the bulk one
            try:
                get_queue(self.cfg, bulk=bulk).empty()
            except Exception:
                pass
        self.db.dispose()
        forget_databases()
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        self.admin.dispose()


def snapshot(db: Database) -> dict[str, Counter]:
    """The outcome of a run, as multisets that do not depend on ids or timing."""
    queries = {
        "events": "SELECT source, event_id FROM events",
        "balances": "SELECT account, currency, SUM(amount) FROM ledger_entries "
        "GROUP BY account, currency HAVING SUM(amount) <> 0",
        "commissions_net": "SELECT ib_id, client_ref, currency, SUM(amount) FROM ib_commissions "
        "WHERE status <> 'rejected' GROUP BY ib_id, client_ref, currency "
        "HAVING SUM(amount) <> 0",
        "open_tasks": "SELECT client_ref, rule_id, queue FROM tasks WHERE status IN ('open', 'in_progress', 'waiting')",
        "clients": "SELECT ref, status, kyc_status, funnel_stage, risk_category FROM clients",
        "notifications": "SELECT client_ref, template, channel FROM notifications",
        # Records: reported, not part of the equivalence (see the module's docstring).
        "tasks": "SELECT client_ref, rule_id, queue, title, status FROM tasks",
        "commissions": "SELECT ib_id, client_ref, type, amount, currency FROM ib_commissions",
        "ledger": "SELECT account, currency, amount FROM ledger_entries",
    }
    out = {}
    with db.engine.connect() as conn:
        for name, sql in queries.items():
            try:
                out[name] = Counter(tuple(str(v) for v in row) for row in conn.execute(text(sql)))
            except Exception as exc:  # a domain table this build does not have
                conn.rollback()
                out[name] = Counter({("unavailable", type(exc).__name__): 1})
    return out


EQUIVALENCE = ("events", "balances", "commissions_net", "open_tasks", "clients", "notifications")
RECORDS = ("tasks", "commissions", "ledger")


def differences(reference: dict, other: dict) -> dict[str, int]:
    """Count the rows each run has that the other has not, per table."""
    return {
        name: sum(((reference[name] - other[name]) + (other[name] - reference[name])).values()) for name in reference
    }


# ---- faults -------------------------------------------------------------------------


def _kill_workers(run: Run, stop: threading.Event, rng: random.Random) -> None:
    while not stop.wait(rng.uniform(0.5, 1.5)):
        run.workers.kill_one(rng)


def _restart_redis(run: Run, stop: threading.Event, rng: random.Random) -> None:
    if stop.wait(1.0):
        return
    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True)
    time.sleep(3)
    subprocess.run(REDIS_START, capture_output=True, check=True)


def _restart_postgres(run: Run, stop: threading.Event, rng: random.Random) -> None:
    if stop.wait(1.5):
        return
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], capture_output=True, check=True
    )


def _activate_rules(run: Run, stop: threading.Event, rng: random.Random) -> None:
    """Activate a new version (the same rules plus a comment) in the middle of the run."""
    if stop.wait(1.0):
        return
    from engine.rules import activation
    from engine.rules.loader import load_tree

    files = load_tree(str(ROOT / "rules"))
    first = sorted(files)[0]
    files[first] = files[first] + "\n# re-activated during the fault run\n"
    with unit_of_work(run.db) as s:
        activation.activate_files(s, files, actor="faults", source="faults")


FAULTS = {
    "duplicates-shuffled": None,
    "workers-killed": _kill_workers,
    "redis-restarted": _restart_redis,
    "postgres-restarted": _restart_postgres,
    "rules-activated": _activate_rules,
}


def execute(name: str, items: list[tuple], final_time: datetime, workers: int, seed: int) -> tuple[dict, int]:
    """Run the workload under one fault (or none) and return its snapshot."""
    rng = random.Random(seed)
    if name == "duplicates-shuffled":
        items = [i for i in items for _ in range(rng.choice([2, 3]))]
        rng.shuffle(items)
    run = Run(name, workers)
    stop = threading.Event()
    injector = FAULTS.get(name)
    thread = threading.Thread(target=injector, args=(run, stop, rng)) if injector else None
    try:
        if thread:
            thread.start()
        for item in items:
            run.deliver(item)
        stop.set()
        if thread:
            thread.join()
        run.settle(final_time)
        return snapshot(run.db), len(items)
    finally:
        stop.set()
        run.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=60)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", nargs="*", choices=list(FAULTS))
    parser.add_argument("--verbose", action="store_true", help="print the differing rows")
    args = parser.parse_args()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    items = workload(args.clients, args.seed, start)
    final_time = start + timedelta(days=60)
    reference, delivered = execute("reference", items, final_time, args.workers, args.seed)
    print(summary("none (reference)", delivered, reference), flush=True)
    failed = 0
    for name in args.only or FAULTS:
        snap, delivered = execute(name, items, final_time, args.workers, args.seed)
        diff = differences(reference, snap)
        failed += any(diff[t] for t in EQUIVALENCE)
        if args.verbose and any(diff.values()):
            for table in reference:
                for row, n in ((reference[table] - snap[table]) + Counter()).items():
                    print(f"  only in reference {table}: {row} x{n}")
                for row, n in ((snap[table] - reference[table]) + Counter()).items():
                    print(f"  only under fault  {table}: {row} x{n}")
        print(summary(name, delivered, snap, diff), flush=True)
    return 1 if failed else 0


def summary(name: str, delivered: int, snap: dict, diff: dict | None = None) -> str:
    """One line per run: events in and stored, the outcome's sizes, and the differences."""
    size = {table: sum(rows.values()) for table, rows in snap.items()}
    line = (
        f"{name:<20} events in: {delivered:>5}  events stored: {size['events']:>5}  "
        f"tasks: {size['tasks']:>4}  commissions: {size['commissions']:>3}  "
        f"ledger entries: {size['ledger']:>5}  notifications: {size['notifications']:>4}"
    )
    if diff is None:
        return line
    return (
        line
        + "  differences: "
        + ", ".join(f"{t} {diff[t]}" for t in EQUIVALENCE)
        + "  records: "
        + ", ".join(f"{t} {diff[t]}" for t in RECORDS)
    )


if __name__ == "__main__":
    sys.exit(main())
