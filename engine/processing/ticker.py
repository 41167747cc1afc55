"""Embedded mode: a background processor for web requests and a ticker that runs the
domains' sweeps (due timers, provider read-backs, task leases, queued e-mail) and then
the events left pending, all in-process. Each domain names its sweeps in engine.domains."""

from __future__ import annotations

import importlib
import logging
import queue
import threading

from typing import Callable

from engine import domains
from engine.db import Database

log = logging.getLogger(__name__)


def sweep_functions() -> list[Callable[[Database], object]]:
    """Return the domains' sweeps (engine.domains: timers, read-backs, leases, queued e-mail)."""
    found = []
    for target in domains.sweeps():
        module, _, name = target.partition(":")
        found.append(getattr(importlib.import_module(module), name))
    return found


def run_sweeps(database: Database) -> None:
    """Run every domain's sweep once; one that fails is logged and the others still run."""
    for sweep in sweep_functions():
        try:
            sweep(database)
        except Exception:
            log.exception("sweep %s.%s failed; it runs again next round", sweep.__module__, sweep.__qualname__)


def tick(database: Database) -> None:
    """Run one round: the domains' sweeps, then the events left pending."""
    from engine import processing

    run_sweeps(database)
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
