"""Durable timers in the database: start, cancel, and fire each once when due."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.db import Database, insert_on_conflict, unit_of_work
from engine.rules.models import DELAY, NAMED, TIMER_CANCELLED, TIMER_PENDING, RuleTimer
from engine.values import as_utc, utcnow

BATCH = 500  # timers per client transaction


def _add(session: Session, **columns) -> RuleTimer:
    timer = RuleTimer(status=TIMER_PENDING, created_at=utcnow(), **columns)
    session.add(timer)
    session.flush()
    return timer


def start_delay(
    session: Session,
    *,
    key: str,
    client_ref: str,
    rule_id: str,
    version: str,
    event_seq: int | None,
    due_at: datetime,
    explanation: dict,
) -> bool:
    """Start the delay timer of a rule for one trigger; return whether it started (a second
    start of the same key does nothing).

    One INSERT that skips an existing key (was a SELECT of the key, then an ORM add and a
    flush of its own: three steps for each delayed rule an event matched)."""
    stmt = (
        insert_on_conflict(session, RuleTimer)
        .values(
            key=key[:300],
            kind=DELAY,
            client_ref=client_ref,
            rule_id=rule_id,
            ruleset_version=version,
            event_seq=event_seq,
            due_at=due_at,
            explanation=explanation,
            status=TIMER_PENDING,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(RuleTimer.id)
        # the read cache forgets this client's timer answers only (engine.db)
        .execution_options(client_ref=client_ref)
    )
    return session.execute(stmt).scalar() is not None


def start_named(run, name: str, after: timedelta, key: str) -> RuleTimer:
    """Start named timer `name` for the run's client, replacing a pending one of that name."""
    cancel_named(run.session, run.client.ref, name, f"restarted by {run.rule.id}", run.now)
    return _add(
        run.session,
        key=key[:300],
        kind=NAMED,
        client_ref=run.client.ref,
        rule_id=run.rule.id,
        name=name,
        ruleset_version=run.ruleset.version,
        event_seq=run.event.seq if run.event is not None else None,
        due_at=run.now + after,
        explanation=run.explanation,
    )


def cancel_named(session: Session, client_ref: str, name: str, outcome: str, at: datetime) -> int:
    """Cancel the client's pending timers called `name`; return how many."""
    result = session.execute(
        update(RuleTimer)
        .where(
            RuleTimer.client_ref == client_ref,
            RuleTimer.kind == NAMED,
            RuleTimer.name == name,
            RuleTimer.status == TIMER_PENDING,
        )
        .values(status=TIMER_CANCELLED, closed_at=at, outcome=outcome)
        .execution_options(synchronize_session="fetch", client_ref=client_ref)
    )
    return result.rowcount


def pending(session: Session, client_ref: str, kind: str | None = None) -> list[RuleTimer]:
    """Return the client's pending timers, oldest first."""
    stmt = select(RuleTimer).where(RuleTimer.client_ref == client_ref, RuleTimer.status == TIMER_PENDING)
    if kind:
        stmt = stmt.where(RuleTimer.kind == kind)
    return list(session.scalars(stmt.order_by(RuleTimer.due_at, RuleTimer.id)))


def close(
    session: Session, timer: RuleTimer, status: str, outcome: str, at: datetime, *, when_due: bool = False
) -> bool:
    """Move a pending timer to fired or cancelled; False if another process got there first.

    `when_due`: the timer is closed because it fell due, so only if its due time is still
    the one read (an activation that rescheduled it meanwhile wins: it fires when due).
    """
    unmoved = (RuleTimer.due_at == timer.due_at,) if when_due else ()
    result = session.execute(
        update(RuleTimer)
        .where(RuleTimer.id == timer.id, RuleTimer.status == TIMER_PENDING, *unmoved)
        .values(status=status, closed_at=at, outcome=outcome[:2000])
        .execution_options(synchronize_session="fetch", client_ref=timer.client_ref)
    )
    return result.rowcount == 1


def fire_due(database: Database, now: datetime | None = None) -> int:
    """Fire every timer due at `now` (default: the clock), client by client; return how many fired."""
    from engine.processing.ingest import schedule_touched
    from engine.rules import runtime

    now = as_utc(now) if now is not None else utcnow()
    with unit_of_work(database) as session:
        due = session.execute(
            select(RuleTimer.id, RuleTimer.client_ref)
            .where(RuleTimer.status == TIMER_PENDING, RuleTimer.due_at <= now)
            .order_by(RuleTimer.due_at, RuleTimer.id)
        ).all()
    by_client: dict[str, list[int]] = defaultdict(list)
    for timer_id, client_ref in due:
        by_client[client_ref].append(timer_id)
    fired = 0
    for client_ref, ids in by_client.items():
        for start in range(0, len(ids), BATCH):
            with unit_of_work(database) as session:
                # The client lock serialises timers with the client's event processing.
                client = session.scalar(select(Client).where(Client.ref == client_ref).with_for_update())
                timers = session.scalars(
                    select(RuleTimer)
                    .where(RuleTimer.id.in_(ids[start : start + BATCH]))
                    .order_by(RuleTimer.due_at, RuleTimer.id)
                )
                for timer in timers:
                    fired += runtime.fire_timer(session, timer, client)
                    if timer.status != TIMER_PENDING:
                        timer.run_at = now  # when this run settled it (backtests replay the runs)
                schedule_touched(session, database)
    return fired
