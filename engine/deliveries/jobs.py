"""rq job for pending read-backs in distributed mode (safe to run twice: rows are leased)."""

from __future__ import annotations

from datetime import timedelta

from engine import config as config_mod
from engine.db import get_database


def fetch_due() -> dict:
    """Job: run the due pending fetches; schedule another round while some still fail."""
    from engine.deliveries import fetches

    database = get_database()
    report = fetches.run_due(database)
    if report.retrying:
        enqueue_fetch(database.config, fetches.backoff(0).total_seconds())
    return {"done": report.done, "retrying": report.retrying, "failed": report.failed}


def enqueue_fetch(cfg: config_mod.Config, delay: float = 0.0) -> None:
    """Enqueue `fetch_due`, now or after `delay` seconds (needs the worker's scheduler)."""
    from engine.processing.jobs import get_queue

    queue = get_queue(cfg)
    if delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), fetch_due, job_timeout=600, result_ttl=300)
    else:
        queue.enqueue(fetch_due, job_timeout=600, result_ttl=300)
