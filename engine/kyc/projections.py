"""KYC state from events: documents, provider results and requests; late events never go back.

Each handler reads the client's rows through `SessionRows` and lets engine.kyc.decide
apply the event; the set-based form (engine.kyc.batch) applies the same functions to
rows it loaded for a whole group.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.events.models import Event
from engine.kyc import batch, decide, service
from engine.kyc import policy as policy_mod
from engine.kyc.decide import RESET_REASON, retry_documents  # noqa: F401  (their home was here)
from engine.kyc.models import DocumentRequest, KycDocument, KycReview
from engine.projections import batch_form, projection


class SessionRows:
    """One client's KYC rows read with queries (engine.db read cache), added to the session."""

    def __init__(self, session: Session, client: Client) -> None:
        self.session, self.client = session, client

    def documents(self) -> list[KycDocument]:
        return service.documents(self.session, self.client.ref)

    def requests(self) -> list[DocumentRequest]:
        return service.requests(self.session, self.client.ref)

    def reviews_since(self, at: datetime) -> list[KycReview]:
        return list(
            self.session.scalars(
                select(KycReview)
                .where(KycReview.client_ref == self.client.ref, KycReview.applied, KycReview.occurred_at >= at)
                .order_by(KycReview.occurred_at, KycReview.id)
            )
        )

    def policy(self) -> policy_mod.Policy:
        return policy_mod.for_session(self.session)

    def add(self, row: KycDocument | KycReview | DocumentRequest) -> None:
        self.session.add(row)


@projection("kyc.document_submitted")
def document_submitted(session: Session, event: Event, client: Client) -> None:
    """Record a submitted document and fulfil any open request for its type."""
    decide.document_submitted(SessionRows(session, client), event)


@projection("kyc.document_approved")
def document_approved(session: Session, event: Event, client: Client) -> None:
    """Mark one document approved (unless a newer event already moved it)."""
    decide.document_approved(SessionRows(session, client), event)


@projection("kyc.document_rejected")
def document_rejected(session: Session, event: Event, client: Client) -> None:
    """Mark a document rejected with its reason (unless a newer event already moved it)."""
    decide.document_rejected(SessionRows(session, client), event)


@projection("kyc.review_pending")
def review_pending(session: Session, event: Event, client: Client) -> None:
    """A provider started reviewing: submitted documents are now in review."""
    decide.review_pending(SessionRows(session, client), event)


@projection("kyc.on_hold")
def on_hold(session: Session, event: Event, client: Client) -> None:
    """A provider put the review on hold (the rules open a compliance task)."""
    decide.on_hold(SessionRows(session, client), event)


@projection("kyc.review_completed")
def review_completed(session: Session, event: Event, client: Client) -> None:
    """Apply a provider's final or retry result to the documents under review."""
    decide.review_completed(SessionRows(session, client), event)


@projection("kyc.reset")
def reset(session: Session, event: Event, client: Client) -> None:
    """A provider reset the applicant: documents stop counting and all are asked for again.

    The history stays (reviews, documents with the reason they stopped counting). The
    client's KYC status becomes `retry`, as after a retry that asks for everything, so
    the rules send the request and the reminders of a retry.
    """
    decide.reset(SessionRows(session, client), event)


batch_form(
    "kyc",
    (document_submitted, document_approved, document_rejected, review_pending, on_hold, review_completed, reset),
    load=batch.load,
    accepts=batch.accepts,
    apply=batch.apply,
    write=batch.write,
)
