"""Embedded mode: a background processor for web requests and a ticker that runs the
domains' sweeps (due timers, provider read-backs, task leases, queued e-mail) and then
the events left pending, all in-process. Each domain names its sweeps in engine.domains."""

from __future__ import annotations

import importlib
import logging
import threading
from collections import deque
from contextlib import nullcontext

from typing import Callable

from engine import domains
from engine.db import Database
from engine.processing.dispatch import LIVE_CLIENTS

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
    """Process clients on a thread, so a webhook is answered before its processing.

    Live work (a webhook or a single post: a few clients) goes before bulk work (a file,
    an API batch), and bulk work yields to it between its group transactions: a webhook's
    task is not held back behind a backlog, only behind the group being written.
    """

    def __init__(self, database: Database, *, start: bool = True):
        self.database = database
        self.live: deque[list[str]] = deque()
        self.bulk: deque[list[str]] = deque()
        self.ready = threading.Condition()
        if start:
            threading.Thread(target=self._loop, name="fxcrm-processor", daemon=True).start()

    def submit(self, client_refs: list[str]) -> None:
        """Queue these clients for processing (the ticker sweeps whatever is lost)."""
        with self.ready:
            (self.bulk if len(client_refs) > LIVE_CLIENTS else self.live).append(list(client_refs))
            self.ready.notify()

    def live_waiting(self) -> bool:
        return bool(self.live)

    def _next(self) -> tuple[list[str], bool]:
        """Wait for work; return it, live first, and whether it is bulk work."""
        with self.ready:
            while not (self.live or self.bulk):
                self.ready.wait()
            return (self.live.popleft(), False) if self.live else (self.bulk.popleft(), True)

    def run_once(self) -> None:
        """Do the next piece of work; bulk work left for live work goes back first in line."""
        from engine import processing

        refs, bulk = self._next()
        if bulk:
            stats = processing.process_clients(self.database, refs, should_yield=self.live_waiting)
        else:
            with self._urgent_turns():
                stats = processing.process_clients(self.database, refs)
        if stats.left:
            with self.ready:
                self.bulk.appendleft(stats.left)

    def _urgent_turns(self):
        """SQLite: live work's transactions take the next turn at the write lock."""
        gate = getattr(self.database.engine, "fxcrm_write_gate", None)
        return gate.urgent() if gate is not None else nullcontext()

    def _loop(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:
                log.exception("background processing failed; the ticker will retry")
