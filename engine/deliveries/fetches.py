"""Pending read-backs (Onfido checks): fetched outside any transaction, retried, never dropped."""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors import FetchFailed, MalformedPayload, UnknownClient, onfido
from engine.db import Database, unit_of_work
from engine.deliveries import intake, service
from engine.deliveries.models import DONE, FAILED, IGNORED, REJECTED, UNMATCHED
from engine.events.schemas import InvalidEvent
from engine.events.store import record_many
from engine.processing.ingest import schedule_touched
from engine.values import utcnow

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)  # longer than a fetch can take (timeout 5 s)
MAX_BACKOFF = timedelta(hours=6)
FETCH_TIMEOUT = 5.0


@dataclass
class FetchReport:
    done: int = 0
    retrying: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"done: {self.done}, retrying: {self.retrying}, failed: {self.failed}"


def backoff(attempts: int) -> timedelta:
    """Return the wait before attempt number `attempts + 1`: 30 s doubling, at most 6 h."""
    return min(timedelta(seconds=30 * 2 ** min(attempts, 20)), MAX_BACKOFF)


def check_fetcher(database: Database):
    """Return fetch(check_id) bound to the configured Onfido API, or None if no token."""
    cfg = database.config
    token = cfg.secret("ONFIDO_API_TOKEN")
    if not token:
        return None
    base_url = cfg.secret("ONFIDO_BASE_URL") or onfido.DEFAULT_BASE_URL
    return functools.partial(onfido.fetch_check, base_url=base_url, token=token, timeout=FETCH_TIMEOUT)


def run_due(database: Database, *, now: datetime | None = None, limit: int = 50) -> FetchReport:
    """Fetch what every due pending delivery needs, store its events, reschedule failures."""
    now = now or utcnow()
    with unit_of_work(database) as session:
        claimed = [
            (row.id, row.provider, row.body or "", row.attempts)
            for row in service.claim_due(session, now=now, lease_until=now + LEASE, limit=limit)
        ]
    report, fetch = FetchReport(), check_fetcher(database)
    for row_id, provider, body, attempts in claimed:
        _run_one(database, row_id, provider, body.encode(), attempts, fetch, now, report)
    return report


def _run_one(database, row_id, provider, body, attempts, fetch, now, report) -> None:
    try:
        payload = onfido.parse(body)
        check = _fetch(fetch, payload)  # over the network, outside any transaction
        with unit_of_work(database) as session:
            result = intake.normalize(session, provider, payload, now=now, fetch=lambda _check_id: check)
            record_many(session, result.events, via=f"webhook:{provider}"[:20])
            schedule_touched(session, database)
            service.finish(
                session,
                row_id,
                status=DONE if result.events else IGNORED,
                reason=result.ignored,
                event_ids=[e["id"] for e in result.events],
            )
    except FetchFailed as exc:
        return _failed_fetch(database, row_id, attempts, exc, now, report)
    except (MalformedPayload, InvalidEvent, UnknownClient) as exc:
        status = UNMATCHED if isinstance(exc, UnknownClient) else REJECTED
        return _finish(
            database, row_id, report, status=status, reason=str(exc), http_status=202 if status == UNMATCHED else 400
        )
    report.done += 1


def _fetch(fetch, payload: dict) -> dict:
    if fetch is None:
        raise FetchFailed("FXCRM_ONFIDO_API_TOKEN is not set", retryable=False)
    return fetch(onfido.check_to_fetch(payload))


def _failed_fetch(database, row_id, attempts, exc: FetchFailed, now, report) -> None:
    if not exc.retryable:
        # Kept as failed, not dropped: `fxcrm connectors retry` runs it again once fixed.
        return _finish(database, row_id, report, status=FAILED, reason=exc.reason)
    with unit_of_work(database) as session:
        service.retry_later(session, row_id, at=now + backoff(attempts), reason=exc.reason)
    report.retrying += 1
    report.problems.append(f"delivery {row_id}: {exc.reason}")


def _finish(database, row_id, report, *, status, reason, http_status=None) -> None:
    with unit_of_work(database) as session:
        service.finish(session, row_id, status=status, reason=reason, http_status=http_status)
    report.failed += 1
    report.problems.append(f"delivery {row_id}: {status}: {reason}")


def schedule(database: Database, delay: float = 0.0) -> None:
    """Run due fetches soon: an rq job (distributed) or a background thread (embedded)."""
    if database.config.distributed:
        try:
            from engine.deliveries import jobs

            jobs.enqueue_fetch(database.config, delay)
        except Exception as exc:  # Redis down: `fxcrm connectors fetch` or a later delivery
            log.warning("could not enqueue the Onfido fetch (%s)", type(exc).__name__)
        return
    timer = threading.Timer(delay, _run_logged, args=(database,))
    timer.daemon = True
    timer.start()


def _run_logged(database: Database) -> None:
    try:
        report = run_due(database)
    except Exception:
        log.exception("Onfido fetch round failed")
        return
    if report.retrying:
        schedule(database, delay=backoff(0).total_seconds())
