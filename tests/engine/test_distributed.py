"""Distributed mode on real PostgreSQL and Redis: rq jobs, the sweeper, killed workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import json
import time
import zlib

import pytest
from sqlalchemy import func, select

from engine.audit.models import AuditEntry
from engine.db import Database, unit_of_work
from engine.processing import jobs
from engine.events.models import PENDING, PROCESSED, Event
from engine.processing.ingest import ingest_lines
from engine.tasks.models import Task
from tests import services
from tests.helpers import deposit_failed, jsonl, own_queues

PLUGIN = "tests.plugins.audit_each_event"


@pytest.fixture
def redis_url():
    return services.require("redis")


@pytest.fixture
def dist(pg_database, redis_url):
    """The test database in distributed mode, with a queue of its own."""
    cfg = pg_database.config.with_overrides(
        redis_url=redis_url, plugins=PLUGIN, job_batch=10, sweep_after_seconds=1.0, ticker_seconds=1.0
    )
    with own_queues(cfg) as db:
        yield db


def worker_env(cfg):
    return {
        **os.environ,
        "FXCRM_DATABASE_URL": cfg.database_url,
        "FXCRM_REDIS_URL": cfg.redis_url,
        "FXCRM_QUEUE_NAME": cfg.queue_name,
        "FXCRM_PLUGINS": cfg.plugins,
        "FXCRM_TICKER_SECONDS": "1",
        "FXCRM_SWEEP_AFTER_SECONDS": "1",
        "FXCRM_SECRET_KEY": "test",
    }


def start_worker(cfg, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "worker", *args],
        env=worker_env(cfg),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def counts(db):
    with unit_of_work(db) as s:

        def n(model, *where):
            return s.scalar(select(func.count()).select_from(model).where(*where))

        return {
            "processed": n(Event, Event.status == PROCESSED),
            "pending": n(Event, Event.status == PENDING),
            "tasks": n(Task),
            "audit": n(AuditEntry),
        }


def wait_for(predicate, db, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = counts(db)
        if predicate(now):
            return now
        time.sleep(0.2)
    raise AssertionError(f"timed out; last counts {counts(db)}")


def failed_deposits(clients, per_client):
    return jsonl(
        deposit_failed(f"K{c:04d}", at=f"2026-11-01T10:{m:02d}:00Z") for c in range(clients) for m in range(per_client)
    ).splitlines()


def test_jobs_carry_client_refs_and_a_worker_processes_them(dist):
    report = ingest_lines(dist, failed_deposits(25, 2))
    assert report.accepted == 50
    queue = jobs.get_queue(dist.config, bulk=True)
    queued = [queue.fetch_job(j) for j in queue.job_ids]
    assert len(queued) == 3  # 25 clients in batches of 10: never one job per event
    assert jobs.get_queue(dist.config).count == 0  # a file is bulk work, not live
    assert all(isinstance(ref, str) for job in queued for ref in job.args[0])
    # Stored as JSON (rq's JSONSerializer), never pickle: plain data naming the function.
    raw = zlib.decompress(queue.connection.hget(queued[0].key, "data"))
    function, _instance, args, _kwargs = json.loads(raw)
    assert function == "engine.processing.jobs.process_clients" and args == [queued[0].args[0]]
    assert counts(dist)["pending"] == 50
    proc = start_worker(dist.config, "--burst")
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()[-2000:]
    assert counts(dist) == {"processed": 50, "pending": 0, "tasks": 50, "audit": 50}


def test_events_arriving_while_redis_is_down_are_swept_later(dist):
    down = Database(dist.config.with_overrides(redis_url="redis://127.0.0.1:1/0"))
    try:
        report = ingest_lines(down, failed_deposits(3, 2))
    finally:
        down.dispose()
    assert report.accepted == 6  # accepted and stored although Redis was unreachable
    assert counts(dist)["pending"] == 6
    time.sleep(1.1)  # older than sweep_after_seconds
    assert jobs.sweep_once(dist.config) == 3
    proc = start_worker(dist.config, "--burst")
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()[-2000:]
    assert counts(dist) == {"processed": 6, "pending": 0, "tasks": 6, "audit": 6}


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(dist):
    total = 1200
    ingest_lines(dist, failed_deposits(120, 10))
    first = start_worker(dist.config)
    try:
        seen = wait_for(lambda c: c["processed"] >= 150, dist)
        assert seen["processed"] < total, "finished before it could be killed"
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its work-horse, no clean-up
        first.wait()
    killed_at = counts(dist)
    assert killed_at["processed"] < total
    second = start_worker(dist.config)
    try:
        final = wait_for(lambda c: c["processed"] == total, dist)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)
    assert final == {"processed": total, "pending": 0, "tasks": total, "audit": total}


def test_a_single_delivery_is_live_work_done_before_queued_bulk_work(dist):
    ingest_lines(dist, failed_deposits(25, 2))  # a file: bulk
    ingest_lines(dist, jsonl([deposit_failed("LIVE1")]).splitlines())  # one client: live
    live, bulk = jobs.get_queue(dist.config), jobs.get_queue(dist.config, bulk=True)
    assert (live.count, bulk.count) == (1, 3)
    assert live.fetch_job(live.job_ids[0]).args[0] == ["LIVE1"]
    proc = start_worker(dist.config, "--burst")
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()[-2000:]
    with unit_of_work(dist) as s:
        first = s.scalar(select(func.min(Event.processed_at)))
        live_at = s.scalar(select(Event.processed_at).where(Event.client_ref == "LIVE1"))
    assert live_at == first  # taken before the bulk jobs queued ahead of it
    assert counts(dist)["pending"] == 0
