"""Document expiry: find the usable documents whose expiry is near and announce each once.

A document with an `expires_at` stops counting when it passes (`service.effective_state`);
before that the broker has to ask for a new one. The sweep records one internal
`kyc.document_expiring` event per document and expiry date when the date is within
EXPIRY_NOTICE, so rules (rules/onboarding/expiry.yaml) can remind the client and open a
task; the event id is derived from the document and its expiry, so a sweep run twice,
or on several workers, records it once, and a new expiry date (a corrected document) is
announced again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db import Database, unit_of_work
from engine.kyc.models import USABLE_STATES, KycDocument
from engine.values import iso, utcnow

# How long before its expiry a document is announced as expiring.
EXPIRY_NOTICE = timedelta(days=30)
SOURCE = "kyc-expiry"


def expiring_documents(session: Session, now: datetime, notice: timedelta = EXPIRY_NOTICE) -> list[KycDocument]:
    """Return the usable documents whose expiry falls within `notice` of `now`, either side."""
    # Documents that expired more than `notice` ago were announced long since (or came
    # in expired and count as missing): each round does not look at them again.
    return list(
        session.scalars(
            select(KycDocument)
            .where(
                KycDocument.state.in_(USABLE_STATES),
                KycDocument.expires_at.is_not(None),
                KycDocument.expires_at <= now + notice,
                KycDocument.expires_at > now - notice,
            )
            .order_by(KycDocument.expires_at, KycDocument.id)
        )
    )


def _envelope(doc: KycDocument) -> dict[str, object]:
    # The notice is dated when it was due, or when the document was submitted if that
    # was later: fixed by the document, so every round builds the same event (a repeat
    # is a duplicate, never a conflicting delivery).
    expires_at = doc.expires_at
    if expires_at is None:  # expiring_documents selects documents with an expiry only
        raise ValueError(f"document {doc.document_id} of {doc.client_ref} has no expiry")
    due = expires_at - EXPIRY_NOTICE
    occurred = max(due, doc.submitted_at) if doc.submitted_at else due
    return {
        "id": f"{doc.client_ref}:{doc.document_id}:{iso(expires_at)}",
        "type": "kyc.document_expiring",
        "source": SOURCE,
        "occurred_at": iso(min(occurred, expires_at)),
        "client": doc.client_ref,
        "data": {"document_id": doc.document_id, "document_type": doc.document_type, "expires_at": iso(expires_at)},
    }


def announce(session: Session, now: datetime | None = None) -> int:
    """Record `kyc.document_expiring` for each document now within the notice; return how many were new."""
    from engine.events.schemas import validate_envelope
    from engine.events.store import record_many

    now = now or utcnow()
    envelopes = [validate_envelope(_envelope(doc), allow_internal=True) for doc in expiring_documents(session, now)]
    return len(record_many(session, envelopes, via="sweep"))


def announce_due(database: Database, now: datetime | None = None) -> int:
    """The KYC domain's sweep: announce expiring documents and hand their clients to processing."""
    from engine.processing.ingest import schedule_touched

    with unit_of_work(database) as session:
        found = announce(session, now)
        schedule_touched(session, database)
    return found
