"""Replay stored events through another ruleset in a sandbox and compare the actions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from engine.db import Database, unit_of_work
from engine.events.models import Event
from engine.rules import activation
from engine.rules.loader import load_tree
from engine.rules.models import RuleAction
from engine.rules.sandbox import sandbox_database
from engine.values import clock

_SUMMARY = {
    "task": ("queue", "title", "priority"),
    "notify": ("template", "channel"),
    "set_status": ("status",),
    "set_risk": ("category",),
    "commission": ("type",),
    "raise_priority": ("task_of", "to"),
    "start_timer": ("name",),
    "cancel_timer": ("name",),
    "emit": ("type",),
}


@dataclass
class BacktestReport:
    events: int
    active_version: str | None
    candidate_version: str
    added: Counter = field(default_factory=Counter)  # would happen only with the candidate
    removed: Counter = field(default_factory=Counter)  # happened, would not with the candidate
    same: int = 0


def _key(action: RuleAction, trigger: str) -> tuple:
    shown = ", ".join(
        f"{k}={action.params.get(k)}" for k in _SUMMARY.get(action.action, ()) if action.params.get(k) is not None
    )
    return (action.client_ref, trigger, action.rule_id, f"{action.action}({shown})")


def _actions(session, seqs: dict[int, str] | None = None) -> Counter:
    """Count actions by (client, triggering event, rule, action); `seqs` keeps only those events."""
    out: Counter = Counter()
    triggers = dict(session.execute(select(Event.seq, Event.source + "/" + Event.event_id)).all())
    for action in session.scalars(select(RuleAction).order_by(RuleAction.id)):
        if seqs is not None and action.event_seq not in seqs:
            continue
        out[_key(action, triggers.get(action.event_seq, "-"))] += 1
    return out


def _events(database: Database, since: datetime | None, until: datetime | None) -> list[Event]:
    with unit_of_work(database) as session:
        stmt = select(Event).where(Event.source != "timers", Event.via != "rules")
        if since is not None:
            stmt = stmt.where(Event.occurred_at >= since)
        if until is not None:
            stmt = stmt.where(Event.occurred_at < until)
        events = list(session.scalars(stmt.order_by(Event.occurred_at, Event.seq)))
        session.expunge_all()
        return events


def _replay(sandbox: Database, events: list[Event]) -> None:
    from engine import processing
    from engine.events.store import record
    from engine.rules import timers

    for event in events:
        clock.freeze(event.occurred_at)
        timers.fire_due(sandbox, now=event.occurred_at)
        with unit_of_work(sandbox) as session:
            record(session, event.envelope(), via=event.via)
        processing.process_client(sandbox, event.client_ref)


def run_backtest(
    database: Database, directory: str, *, since: datetime | None = None, until: datetime | None = None
) -> BacktestReport:
    """Replay the window's events through DIRECTORY's rules; compare with what really happened."""
    files = load_tree(directory)
    events = _events(database, since, until)
    with unit_of_work(database) as session:
        seqs = {e.seq: f"{e.source}/{e.event_id}" for e in events}
        real = _actions(session, seqs)
        row = activation.active(session)
    sandbox = sandbox_database(directory, "backtest")
    try:
        with unit_of_work(sandbox) as session:
            candidate = activation.activate_files(session, files, actor="backtest").version
        _replay(sandbox, events)
        with unit_of_work(sandbox) as session:
            replayed = _actions(session)
    finally:
        clock.freeze(None)
        sandbox.dispose()
    return BacktestReport(
        len(events),
        row.version if row else None,
        candidate,
        added=replayed - real,
        removed=real - replayed,
        same=sum((real & replayed).values()),
    )


def describe(report: BacktestReport) -> list[str]:
    """Return the report as lines: a summary, then `+`/`-` lines per differing action."""
    lines = [
        f"replayed {report.events} events: active {(report.active_version or 'none')[:12]} "
        f"vs candidate {report.candidate_version[:12]}",
        f"same: {report.same}, only with the candidate: {sum(report.added.values())}, "
        f"only with the active ruleset: {sum(report.removed.values())}",
    ]
    for sign, counter in (("+", report.added), ("-", report.removed)):
        for (client, trigger, rule, action), count in sorted(counter.items()):
            lines.append(f"{sign} {client} {trigger} {rule}: {action}" + (f" x{count}" if count > 1 else ""))
    return lines
