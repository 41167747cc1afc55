"""Replay stored events through another ruleset in a sandbox and compare the outcomes.

The replay follows the live history as it was processed, not as it occurred: events
in the order they were processed (`processed_at`; within one transaction a client's
events in order of `occurred_at`, as `engine.processing` takes them), and the timers
fired at the moments the live timer runs fired them (`rule_timers.run_at`). So a ruleset replayed against the history it produced leaves exactly the
same tasks, notifications, commissions, scores and client states: what differs for a
candidate is what the candidate changes.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterator

from sqlalchemy import select

from engine.db import Database, unit_of_work
from engine.events.models import PROCESSED, Event
from engine.rules import activation
from engine.rules.backtest_diff import Difference, compare, read_outcomes
from engine.rules.loader import load_tree
from engine.rules.models import TIMER_PENDING, RuleAction, RuleTimer
from engine.rules.sandbox import sandbox_database
from engine.values import clock

# Events the replay makes again by itself: rule emits and fired named timers.
_REMADE_SOURCES = ("timers",)
_REMADE_VIA = ("rules", "timer")


@dataclass
class BacktestReport:
    events: int
    timer_runs: int
    active_version: str | None
    candidate_version: str
    same: int = 0
    differences: list[Difference] = field(default_factory=list)


def _events(database: Database, since: datetime | None, until: datetime | None) -> list[Event]:
    """The window's processed input events, in the order live processing applied them."""
    with unit_of_work(database) as session:
        # Events about clients: a staff member's sign-ins (engine.processing.subjects) are
        # checked by their rule tests, not replayed (the sandbox has no staff).
        stmt = select(Event).where(
            Event.subject == "client",
            Event.source.not_in(_REMADE_SOURCES),
            Event.via.not_in(_REMADE_VIA),
            Event.status == PROCESSED,
        )
        if since is not None:
            stmt = stmt.where(Event.occurred_at >= since)
        if until is not None:
            stmt = stmt.where(Event.occurred_at < until)
        # A transaction applies its clients in order of ref, each one's events in order of
        # occurred_at (engine.processing); processed_at orders the transactions.
        events = list(
            session.scalars(stmt.order_by(Event.processed_at, Event.client_ref, Event.occurred_at, Event.seq))
        )
        session.expunge_all()
        return events


def _timer_runs(database: Database, since: datetime | None, until: datetime | None) -> list[datetime]:
    """The moments live timer runs fired (or cancelled when due) timers: each timer's `run_at`.

    A timer settled before `run_at` was recorded is placed by the clock of the actions it
    took when it fired (there is no trace of one that only cancelled).
    """
    with unit_of_work(database) as session:
        moments = set(session.scalars(select(RuleTimer.run_at).where(RuleTimer.run_at.is_not(None)).distinct()))
        unrecorded = set(
            session.scalars(select(RuleTimer.id).where(RuleTimer.status != TIMER_PENDING, RuleTimer.run_at.is_(None)))
        )
        if unrecorded:
            for key, at in session.execute(select(RuleAction.key, RuleAction.at).where(RuleAction.key.like("timer:%"))):
                if int(key.split(":")[1]) in unrecorded:
                    moments.add(at)
    return sorted(m for m in moments if (since is None or m >= since) and (until is None or m < until))


def _order(event: Event) -> tuple:
    return (event.client_ref, event.occurred_at, event.seq)


def _steps(events: list[Event], runs: list[datetime]) -> Iterator[tuple[datetime, list[Event] | None]]:
    """Yield (time, events to process together) and (time, None) for each timer run, in live order.

    Events go together while they are in the order one processing transaction takes them
    (client ref, then occurred_at): processing them together applies them in the same order
    as one by one, in far fewer transactions.
    """
    batch: list[Event] = []
    merged = heapq.merge(
        ((e.processed_at, 0, i) for i, e in enumerate(events)), ((at, 1, i) for i, at in enumerate(runs))
    )
    for at, kind, index in merged:
        alone = kind == 1 or _by_hand(events[index])
        if batch and (alone or _order(events[index]) <= _order(batch[-1]) or _by_hand(batch[-1])):
            yield batch[-1].processed_at, batch
            batch = []
        if kind == 1:
            yield at, None
        else:
            batch.append(events[index])
    if batch:
        yield batch[-1].processed_at, batch


def _replay(sandbox: Database, events: list[Event], runs: list[datetime]) -> None:
    """Feed the events to the sandbox in live order, running its timers where live ones ran."""
    from engine import processing
    from engine.events.store import record
    from engine.rules import timers

    for at, batch in _steps(events, runs):
        clock.freeze(at)  # what processing dates (tasks, notifications) is dated as it was
        if batch is None:
            timers.fire_due(sandbox, now=at)
            continue
        with unit_of_work(sandbox) as session:
            for event in batch:
                record(session, event.envelope(), via=event.via)
                if _by_hand(event):
                    _redo_by_hand(session, event)
        processing.process_clients(sandbox, [e.client_ref for e in batch])


def _by_hand(event: Event) -> bool:
    """Whether the event announces a status a person set (the change itself is no event)."""
    from engine.processing.ingest import APP_SOURCE

    return event.source == APP_SOURCE and event.type == "client.status_changed"


def _redo_by_hand(session, event: Event) -> None:
    """Set the status the person set, just before its announcement is processed, as live."""
    from engine.clients.models import Client

    client = session.scalar(select(Client).where(Client.ref == event.client_ref))
    data = event.data or {}
    if client is not None and data.get("status"):
        client.status, client.status_reason = data["status"], data.get("reason")
        client.status_changed_at = event.occurred_at


def run_backtest(
    database: Database, directory: str, *, since: datetime | None = None, until: datetime | None = None
) -> BacktestReport:
    """Replay the window's events through DIRECTORY's rules; compare with what really happened."""
    files = load_tree(directory)
    events = _events(database, since, until)
    runs = _timer_runs(database, since, until)
    with unit_of_work(database) as session:
        live = read_outcomes(session)
        row = activation.active(session)
        active_version = row.version if row else None
        live_rules = _rules_of(session, active_version)
    sandbox = sandbox_database(directory, "backtest")
    try:
        with unit_of_work(sandbox) as session:
            candidate = activation.activate_files(session, files, actor="backtest")
        _replay(sandbox, events, runs)
        with unit_of_work(sandbox) as session:
            replayed = read_outcomes(session)
    finally:
        clock.freeze(None)
        sandbox.dispose()
    window = None if since is None and until is None else {f"{e.source}/{e.event_id}" for e in events}
    same, differences = compare(
        live, replayed, {e.client_ref for e in events}, window, (live_rules, {r.id: r for r in candidate.rules})
    )
    return BacktestReport(len(events), len(runs), active_version, candidate.version, same, differences)


def _rules_of(session, version: str | None) -> dict:
    """The rules of the active version by id (to say whether the candidate changed one)."""
    from engine.rules.compiler import compile_ruleset
    from engine.rules.models import RulesetVersion

    stored = session.get(RulesetVersion, version) if version else None
    return {r.id: r for r in compile_ruleset(stored.files).rules} if stored else {}


def describe(report: BacktestReport) -> list[str]:
    """Return the report as lines: a summary, then one line per difference."""
    lines = [
        f"replayed {report.events} events and {report.timer_runs} timer runs: "
        f"active {(report.active_version or 'none')[:12]} vs candidate {report.candidate_version[:12]}",
        f"outcomes: {report.same} same, {len(report.differences)} different",
    ]
    return lines + [d.line() for d in report.differences]


def as_json(report: BacktestReport) -> dict:
    """Return the report as JSON-ready data."""
    return {
        "events": report.events,
        "timer_runs": report.timer_runs,
        "active_version": report.active_version,
        "candidate_version": report.candidate_version,
        "same": report.same,
        "differences": [d.as_dict() for d in report.differences],
    }
