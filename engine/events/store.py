"""The event store: record canonical events once, keyed by (source, id)."""

from __future__ import annotations


from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from engine.clients.models import Client, search_text
from engine import jsonsafe
from engine.db import insert_on_conflict
from engine.events import conflicts
from engine.events.models import PARKED, PENDING, Event
from engine.events.schemas import InvalidEvent, validate_envelope
from engine.values import parse_datetime, utcnow


def ensure_clients(session: Session, refs: set[str]) -> None:
    """Create the client rows that do not exist yet (race-free)."""
    now = utcnow()
    rows = [
        {
            "ref": ref,
            "status": "pending",
            "created_at": now,
            "kyc_status": "not_started",
            "funnel_stage": "registered",
            "auto_funding": False,
            "search_text": search_text(Client(ref=ref)),
        }
        for ref in sorted(refs)
    ]
    if rows:
        stmt = insert_on_conflict(session, Client).on_conflict_do_nothing(index_elements=["ref"])
        session.execute(stmt, rows)


class Recorded(set):
    """The (source, id) pairs stored as new; `conflicts` lists the content digest of each
    envelope whose id was already taken by different content (kept in event_conflicts,
    never applied; `engine.events.conflicts.digest`)."""

    def __init__(self, created=(), conflicts=()):
        super().__init__(created)
        self.conflicts = list(conflicts)


def event_row(envelope: dict, *, via: str, received_at, subject: str = "client") -> dict:
    """The events row of a validated envelope, pending (its subject's ref is `client`)."""
    return {
        "source": envelope["source"],
        "event_id": envelope["id"],
        "type": envelope["type"],
        "client_ref": envelope["client"],
        "subject": subject,
        "occurred_at": parse_datetime(envelope["occurred_at"]),
        "received_at": received_at,
        "data": envelope["data"],
        "via": via,
        "status": PENDING,
        "attempts": 0,
    }


def due_pending():
    """Where an event waits to be processed and, if it failed before, its retry time has come."""
    return and_(Event.status == PENDING, or_(Event.retry_at.is_(None), Event.retry_at <= utcnow()))


def record_many(session: Session, envelopes: list[dict], *, via: str = "api") -> Recorded:
    """Store validated envelopes; return the (source, id) pairs that were new."""
    if not envelopes:
        return Recorded()
    ensure_clients(session, {e["client"] for e in envelopes})
    now = utcnow()
    rows = [event_row(e, via=via, received_at=now) for e in envelopes]
    stmt = (
        insert_on_conflict(session, Event)
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(Event.source, Event.event_id, Event.client_ref)
    )
    created = set()
    touched = session.info.setdefault("touched_clients", set())
    for source, event_id, client_ref in session.execute(stmt, rows):
        created.add((source, event_id))
        touched.add(client_ref)
    again = [e for e in envelopes if (e["source"], e["id"]) not in created]
    return Recorded(created, conflicts.record(session, again, via=via) if again else ())


def record(session: Session, envelope: dict, *, via: str = "api") -> tuple[int | None, bool]:
    """Store one validated envelope; return (seq, created). A duplicate returns (None, False)."""
    created = record_many(session, [envelope], via=via)
    if not created:
        return None, False
    event = get(session, source=envelope["source"], event_id=envelope["id"])
    return event.seq, True


def parse_line(line: str) -> dict:
    """Parse and validate one JSON line, raising InvalidEvent with the reason."""
    try:
        payload = jsonsafe.loads(line)
    except jsonsafe.JsonError as exc:
        raise InvalidEvent([str(exc)]) from None
    return validate_envelope(payload)


def get(session: Session, *, source: str, event_id: str) -> Event | None:
    """Return the stored event with this (source, id), or None."""
    return session.scalar(select(Event).where(Event.source == source, Event.event_id == event_id))


def list_parked(session: Session, limit: int = 100) -> list[Event]:
    """Return events whose processing failed repeatedly, oldest first."""
    return list(session.scalars(select(Event).where(Event.status == PARKED).order_by(Event.seq).limit(limit)))


def list_pending_clients(session: Session, *, limit: int = 1000, received_before=None) -> list[str]:
    """Return client refs that have unprocessed events (other subjects': engine.processing.subjects)."""
    stmt = select(Event.client_ref).where(Event.subject == "client", due_pending())
    if received_before is not None:
        stmt = stmt.where(Event.received_at < received_before)
    return list(session.scalars(stmt.distinct().limit(limit)))


def count_by_status(session: Session) -> dict[str, int]:
    """Return the number of events in each processing status."""
    from sqlalchemy import func

    rows = session.execute(select(Event.status, func.count()).group_by(Event.status))
    return {status: count for status, count in rows}
