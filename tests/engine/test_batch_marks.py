"""The set-based path marks its events processed with one statement per flush, guarded by
`status = 'pending'` (engine.processing._SetBasedMarks), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event as sa_event
from sqlalchemy import select

from engine.db import unit_of_work
from engine.demo import trading_history
from engine.events.models import PROCESSED, Event
from engine.events.schemas import validate_envelope
from engine.events.store import record_many
from engine.processing import process_clients
from engine.values import UTC, clock

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # before the history: no timer falls due


def store(database, events) -> None:
    with unit_of_work(database) as s:
        record_many(s, [validate_envelope(e) for e in events])


def test_processed_marks_are_one_guarded_update_per_flush(database):
    version = None  # no rules: the trades of clients without an IB are all set-based
    clock.freeze(NOW)
    events = list(trading_history(9, 8, 400, start=START))
    journeys = 1 + max(i for i, e in enumerate(events) if not e["type"].startswith(("trade.", "account.balance")))
    refs = sorted({e["client"] for e in events})
    store(database, events[:journeys])  # the journeys first: they take the per-event path
    process_clients(database, refs)
    store(database, events[journeys:])  # then 483 trades and balance updates
    updates: list[tuple[str, bool, int]] = []  # (statement, executemany, events it marks)

    def note(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("UPDATE events "):
            if executemany:
                rows = len(parameters)
            else:  # the set-based statement names its seqs; an ORM update marks one event
                rows = len(parameters.get("seqs", [None])) if isinstance(parameters, dict) else 1
            updates.append((" ".join(statement.split()), executemany, rows))

    sa_event.listen(database.engine, "before_cursor_execute", note)
    try:
        stats = process_clients(database, refs)
    finally:
        sa_event.remove(database.engine, "before_cursor_execute", note)

    assert stats.processed == len(events) - journeys
    with unit_of_work(database) as s:
        rows = s.execute(select(Event.status, Event.ruleset_version, Event.processed_at)).all()
    assert {(status, v) for status, v, _at in rows} == {(PROCESSED, version)}
    assert all(at is not None and at.tzinfo is not None for _s, _v, at in rows)
    # Every mark names the status it expects (an event marked by anyone else is not marked
    # again); each event is marked once; a set-based round marks its events together (the
    # referred clients' trades still take the per-event path: one mark per flush there).
    assert updates and all("events.status = " in sql.split(" WHERE ", 1)[1] for sql, _m, _n in updates)
    assert sum(n for _s, _m, n in updates) == stats.processed
    assert max(n for _s, _m, n in updates) >= 50
    if database.engine.dialect.name == "postgresql":
        assert not any(many for _s, many, _n in updates)  # one UPDATE ... FROM unnest(...) each
