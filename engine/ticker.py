"""Embedded mode: a background processor for web requests and a ticker that fires due
timers, retries provider read-backs and sweeps events left pending, all in-process."""
from __future__ import annotations

import logging
import queue
import threading

from engine.db import Database
from engine.plugins import import_optional

log = logging.getLogger(__name__)


def fire_due_timers(database: Database, now=None) -> int:
    """Fire every durable timer due at `now` (default: the clock); return how many."""
    timers = import_optional("engine.rules.timers")
    return timers.fire_due(database, now=now) if timers else 0


def run_due_fetches(database: Database) -> None:
    """Retry the provider read-backs (Onfido checks) whose time has come."""
    fetches = import_optional("engine.deliveries.fetches")
    if fetches:
        fetches.run_due(database)


def expire_leases(database: Database) -> int:
    """Give back to their queues the tasks whose claim lease has lapsed."""
    from engine.db import unit_of_work
    from engine.tasks import service as tasks_service
    with unit_of_work(database) as session:
        return tasks_service.expire_leases(session)


def deliver_notifications(database: Database) -> None:
    """Send email queued while the SMTP server was unreachable."""
    notifications = import_optional("engine.notifications.service")
    if notifications and database.config.smtp_url:
        notifications.deliver_pending(database)


def tick(database: Database) -> None:
    """Run one round: timers, read-backs, task leases, queued email, then pending events."""
    from engine import processing
    fire_due_timers(database)
    run_due_fetches(database)
    expire_leases(database)
    deliver_notifications(database)
    processing.process_all_pending(database)


def start(database: Database) -> threading.Event:
    """Start the ticker thread; set the returned event to stop it."""
    stop = threading.Event()

    def loop():
        while not stop.wait(database.config.ticker_seconds):
            try:
                tick(database)
            except Exception:
                log.exception("ticker round failed")

    threading.Thread(target=loop, name="fxcrm-ticker", daemon=True).start()
    return stop


class Background:
    """Process clients on a thread, so a webhook is answered before its processing."""

    def __init__(self, database: Database):
        self.database = database
        self.queue: queue.Queue[list[str]] = queue.Queue()
        threading.Thread(target=self._loop, name="fxcrm-processor", daemon=True).start()

    def submit(self, client_refs: list[str]) -> None:
        """Queue these clients for processing (the ticker sweeps whatever is lost)."""
        self.queue.put(list(client_refs))

    def _loop(self) -> None:
        from engine import processing
        while True:
            refs = self.queue.get()
            try:
                processing.process_clients(self.database, refs)
            except Exception:
                log.exception("background processing failed; the ticker will retry")
