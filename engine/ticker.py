"""The embedded ticker: fires due timers and sweeps unprocessed events in-process."""
from __future__ import annotations

import logging
import threading

from engine.db import Database
from engine.plugins import import_optional

log = logging.getLogger(__name__)


def fire_due_timers(database: Database, now=None) -> int:
    """Fire every durable timer due at `now` (default: the clock); return how many."""
    timers = import_optional("engine.rules.timers")
    if timers is None:
        return 0
    return timers.fire_due(database, now=now)


def tick(database: Database) -> None:
    """Run one round: fire due timers, then process anything still pending."""
    from engine import processing
    fire_due_timers(database)
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
