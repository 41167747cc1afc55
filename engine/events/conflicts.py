"""Event ids delivered again with different content: kept as conflicts, never applied.

A provider that re-sends an event sends the same content: that is an idempotent
duplicate. The same id with other content is a provider bug, an id collision between
two systems, or tampering; dropping it silently would hide it. The event stored first
stays as it is; the other content is recorded in `event_conflicts` (one row per distinct
content, counting its deliveries) for `fxcrm events conflicts` and /readyz to show.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from engine.db import insert_on_conflict
from engine.events.models import Event, EventConflict
from engine.values import parse_datetime, utcnow

COMPARED = ("type", "client", "occurred_at", "data")


def _stored(event: Event) -> dict:
    return {"type": event.type, "client": event.client_ref, "occurred_at": event.occurred_at, "data": event.data}


def _offered(envelope: dict) -> dict:
    return {
        "type": envelope["type"],
        "client": envelope["client"],
        "occurred_at": parse_datetime(envelope["occurred_at"]),
        "data": envelope["data"],
    }


def digest(envelope: dict) -> str:
    """A stable hash of an envelope's content."""
    return hashlib.sha256(json.dumps(envelope, sort_keys=True, default=str).encode()).hexdigest()


def record(session: Session, envelopes: list[dict], *, via: str) -> list[str]:
    """Record each envelope whose (source, id) is stored with other content; return the
    digest of each such envelope (one per envelope, so a repeat counts twice)."""
    keys = {(e["source"], e["id"]) for e in envelopes}
    stored = {
        (e.source, e.event_id): e
        for e in session.scalars(select(Event).where(tuple_(Event.source, Event.event_id).in_(list(keys))))
    }
    found = []
    for envelope in envelopes:
        key = (envelope["source"], envelope["id"])
        first = stored.get(key)
        if first is None:
            continue
        was, now = _stored(first), _offered(envelope)
        differs = [k for k in COMPARED if was[k] != now[k]]
        if differs:
            _upsert(session, envelope, first.seq, differs, via)
            found.append(digest(envelope))
    return found


def _upsert(session: Session, envelope: dict, seq: int, differs: list[str], via: str) -> None:
    now = utcnow()
    stmt = insert_on_conflict(session, EventConflict).values(
        source=envelope["source"],
        event_id=envelope["id"],
        digest=digest(envelope),
        event_seq=seq,
        envelope=envelope,
        differs=differs,
        via=via,
        first_at=now,
        last_at=now,
        times=1,
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["source", "event_id", "digest"], set_={"times": EventConflict.times + 1, "last_at": now}
        )
    )


def count(session: Session) -> int:
    """How many distinct conflicting contents are recorded."""
    return session.scalar(select(func.count()).select_from(EventConflict)) or 0


def list_conflicts(session: Session, limit: int = 200) -> list[dict]:
    """The newest conflicts, with the stored event's content beside the refused one."""
    rows = session.scalars(select(EventConflict).order_by(EventConflict.last_at.desc()).limit(limit))
    out = []
    for row in rows:
        first = session.get(Event, row.event_seq)
        out.append(
            {
                "source": row.source,
                "id": row.event_id,
                "differs": row.differs,
                "times": row.times,
                "via": row.via,
                "first_at": row.first_at.isoformat(),
                "last_at": row.last_at.isoformat(),
                "refused": row.envelope,
                "stored": first.envelope() if first else None,
            }
        )
    return out
