"""Record and process the events about subjects other than clients (a staff member).

Such an event (a catalogue type whose `subject` is a kind of engine.subjects) is stored
in the event store like any other, with `subject = <kind>` and the subject's ref
(`staff:42`) as its `client_ref`, and never reaches the clients' path (which reads
`subject = 'client'` only) nor its set-based form (engine.processing.batch). It is
processed here with the same guarantees: one transaction under a lock on the subject's
row (the kind's `lock`, SELECT ... FOR UPDATE), its pending events in order of
`occurred_at` then `seq`, each in a savepoint and marked processed in the same
transaction (a killed worker's transaction rolls back and the events stay pending;
actions are keyed by the trigger, so a replay does nothing twice); a failing event is
retried with back-off and parked after `max_attempts`, as a client's is.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db import Database, after_commit, insert_on_conflict, keep_loaded_objects, unit_of_work
from engine.events.models import PARKED, Event
from engine.events.store import due_pending, event_row
from engine.processing import Stats, _process_one, due_events, load_handlers, run_batches
from engine.processing.ingest import app_envelope
from engine.projections import apply_subject_event
from engine.subjects import CLIENT, load_subjects
from engine.values import utcnow

log = logging.getLogger(__name__)

EVENTS_PER_TXN = 200


def record(session: Session, *, kind: str, ref: str, type_: str, event_id: str, data: dict, at=None) -> bool:
    """Record an event about the `kind` subject `ref` in the caller's transaction; after
    commit, process the subject's events. Return whether it was new (`event_id` is
    unique per happening: recording it again adds nothing)."""
    from engine.events.catalogue import EVENT_TYPES

    declared = getattr(EVENT_TYPES.get(type_), "subject", None)
    if declared != kind or kind == CLIENT:
        raise ValueError(f"{type_} is not an event about a {kind} (its subject: {declared})")
    envelope = app_envelope(type_=type_, ref=ref, event_id=event_id, data=data, at=at, internal=True)
    row = event_row(envelope, via="app", received_at=utcnow(), subject=kind)
    stmt = (
        insert_on_conflict(session, Event)
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(Event.seq)
    )
    created = session.execute(stmt, [row]).first() is not None
    _schedule_after_commit(session, kind, ref)
    return created


def _schedule_after_commit(session: Session, kind: str, ref: str) -> None:
    database = session.info.get("database")
    touched = session.info.setdefault("touched_subjects", set())
    if database is None or (kind, ref) in touched:
        return
    touched.add((kind, ref))
    after_commit(session, lambda: schedule(database, kind, [ref]))


def schedule(database: Database, kind: str, refs: list[str]) -> None:
    """Process these subjects' pending events now, or (distributed) as an rq job.

    A lost job or a failure here costs nothing: the sweep (`process_due`) finds the
    pending events in the next ticker round."""
    try:
        if database.config.distributed:
            from engine.processing import jobs

            jobs.get_queue(database.config).enqueue(process_subjects_job, kind, refs, job_timeout=600, result_ttl=300)
            return
        process_subjects(database, kind, refs)
    except Exception as exc:  # noqa: BLE001 - the caller's change is committed; the sweep retries
        log.warning("could not process %d %s subjects now (%s); the sweep will", len(refs), kind, type(exc).__name__)


def process_subjects_job(kind: str, refs: list[str]) -> dict:
    """Job: process the pending events of these subjects (safe to run twice)."""
    from engine.db import get_database

    stats = process_subjects(get_database(), kind, refs)
    return {"processed": stats.processed, "failed": stats.failed, "parked": stats.parked}


def process_subjects(database: Database, kind: str, refs: list[str]) -> Stats:
    """Process each subject's pending events (one transaction per subject and batch)."""
    total = Stats()
    for ref in sorted(set(refs)):
        total.add(process_subject(database, kind, ref))
    return total


def process_subject(database: Database, kind: str, ref: str) -> Stats:
    """Process one subject's pending events in order, under a lock on its row."""
    load_handlers(database.config.plugins)
    return run_batches(lambda: _process_batch(database, kind, ref), EVENTS_PER_TXN)


def _process_batch(database: Database, kind: str, ref: str) -> tuple[Stats, int]:
    stats = Stats()
    with unit_of_work(database) as session:
        keep_loaded_objects(session)
        subject = load_subjects()[kind].lock(session, ref)
        events = due_events(session, kind, ref, EVENTS_PER_TXN)
        if subject is None:  # no such subject (any more): nothing could ever process these
            for event in events:
                event.status, event.last_error = PARKED, f"no {kind} {ref}"
            stats.parked = len(events)
            return stats, 0
        for event in events:
            _process_one(session, event, subject, database.config, stats, apply=apply_subject_event)
    return stats, len(events)


def pending_subjects(session: Session, *, limit: int = 1000) -> list[tuple[str, str]]:
    """Return the (kind, ref) of the subjects other than clients with due pending events."""
    stmt = select(Event.subject, Event.client_ref).where(Event.subject != CLIENT, due_pending()).distinct().limit(limit)
    return [(kind, ref) for kind, ref in session.execute(stmt)]


def process_due(database: Database) -> Stats:
    """Sweep (each ticker round): process every subject other than a client with due events."""
    with unit_of_work(database) as session:
        found = pending_subjects(session)
    total = Stats()
    for kind, ref in found:
        total.add(process_subject(database, kind, ref))
    return total
