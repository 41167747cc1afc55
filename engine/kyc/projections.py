"""KYC state from events: documents, provider results and requests; late events never go back."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.events.catalogue import DOCUMENT_TYPES
from engine.events.models import Event
from engine.kyc import policy as policy_mod
from engine.kyc import service
from engine.kyc.models import USABLE_STATES, DocumentRequest, KycDocument, KycReview
from engine.projections import projection
from engine.values import parse_datetime, utcnow


def _document(session: Session, client_ref: str, document_id: str, document_type: str, at) -> tuple[KycDocument, bool]:
    doc = next((d for d in service.documents(session, client_ref) if d.document_id == document_id), None)
    if doc is not None:
        return doc, False
    doc = KycDocument(
        client_ref=client_ref,
        document_id=document_id,
        document_type=document_type,
        state="submitted",
        state_at=at,
        updated_at=utcnow(),
    )
    session.add(doc)
    return doc, True


def _move(doc: KycDocument, state: str, at, reason: str | None = None) -> None:
    doc.state, doc.reason, doc.state_at, doc.updated_at = state, reason, at, utcnow()


@projection("kyc.document_submitted")
def document_submitted(session: Session, event: Event, client: Client) -> None:
    """Record a submitted document and fulfil any open request for its type."""
    data, at = event.data, event.occurred_at
    doc, created = _document(session, client.ref, data["document_id"], data["document_type"], at)
    if created or doc.state_at <= at:
        _move(doc, "submitted", at)
        doc.submitted_at = at
        doc.expires_at = parse_datetime(data["expires_at"]) if data.get("expires_at") else None
    for request in session.scalars(
        select(DocumentRequest).where(
            DocumentRequest.client_ref == client.ref,
            DocumentRequest.fulfilled_at.is_(None),
            DocumentRequest.document_type == data["document_type"],
            DocumentRequest.requested_at <= at,
        )
    ):
        request.fulfilled_at = at
    if created:
        _reviews_since(session, client, doc)


def _reviews_since(session: Session, client: Client, doc: KycDocument) -> None:
    """Give a late document what the reviews applied after it was submitted did to it, in order.

    In order, a review approves or rejects the documents submitted before it, and a
    retry rejects those of the types it asks for again; a document delivered after
    such a review must not stay usable just because it arrived late.
    """
    policy = policy_mod.for_session(session)
    for review in session.scalars(
        select(KycReview)
        .where(KycReview.client_ref == client.ref, KycReview.applied, KycReview.occurred_at >= doc.state_at)
        .order_by(KycReview.occurred_at, KycReview.id)
    ):
        at = review.occurred_at
        if review.result == "pending" and doc.state == "submitted":
            _move(doc, "in_review", at)
        elif review.result == "approved" and doc.state in ("submitted", "in_review"):
            _move(doc, "approved", at)
        elif review.result == "rejected" and doc.state in ("submitted", "in_review"):
            _move(doc, "rejected", at, review.reason or "rejected by the KYC review")
        elif review.result == "reset" and doc.state in USABLE_STATES:
            _move(doc, "rejected", at, review.reason or RESET_REASON)
        elif review.result == "retry" and doc.state in USABLE_STATES:
            docs, texts = retry_documents(policy, client, review.labels)
            if doc.document_type in docs:
                _move(doc, "rejected", at, " ".join(texts) or review.comment or review.reason or "asked for again")


@projection("kyc.document_approved")
def document_approved(session: Session, event: Event, client: Client) -> None:
    """Mark one document approved (unless a newer event already moved it)."""
    data, at = event.data, event.occurred_at
    doc, created = _document(session, client.ref, data["document_id"], data["document_type"], at)
    if created or doc.state_at <= at:
        _move(doc, "approved", at, data.get("reason"))


@projection("kyc.document_rejected")
def document_rejected(session: Session, event: Event, client: Client) -> None:
    """Mark a document rejected with its reason (unless a newer event already moved it)."""
    data, at = event.data, event.occurred_at
    doc, created = _document(session, client.ref, data["document_id"], data["document_type"], at)
    if created or doc.state_at <= at:
        _move(doc, "rejected", at, data["reason"])


def _record_review(session: Session, event: Event, client: Client, result: str, status: str | None = None) -> bool:
    """Store the provider result; apply it to the client only if it is the newest. Return applied.

    The client's KYC status becomes `status` (default: the result itself).
    """
    data = event.data
    newest = client.kyc_status_at is None or event.occurred_at >= client.kyc_status_at
    session.add(
        KycReview(
            client_ref=client.ref,
            event_seq=event.seq,
            provider=data["provider"],
            result=result,
            labels=data.get("labels"),
            reason=data.get("reason"),
            comment=data.get("comment"),
            occurred_at=event.occurred_at,
            applied=newest,
        )
    )
    if newest:
        client.kyc_status, client.kyc_status_at = status or result, event.occurred_at
    return newest


def _documents_in(session: Session, client: Client, states, at) -> list[KycDocument]:
    return list(
        session.scalars(
            select(KycDocument).where(
                KycDocument.client_ref == client.ref, KycDocument.state.in_(states), KycDocument.state_at <= at
            )
        )
    )


@projection("kyc.review_pending")
def review_pending(session: Session, event: Event, client: Client) -> None:
    """A provider started reviewing: submitted documents are now in review."""
    if _record_review(session, event, client, "pending"):
        for doc in _documents_in(session, client, ("submitted",), event.occurred_at):
            _move(doc, "in_review", event.occurred_at)


@projection("kyc.on_hold")
def on_hold(session: Session, event: Event, client: Client) -> None:
    """A provider put the review on hold (the rules open a compliance task)."""
    _record_review(session, event, client, "on_hold")


@projection("kyc.review_completed")
def review_completed(session: Session, event: Event, client: Client) -> None:
    """Apply a provider's final or retry result to the documents under review."""
    result, at = event.data["result"], event.occurred_at
    if not _record_review(session, event, client, result):
        return
    pending = _documents_in(session, client, ("submitted", "in_review"), at)
    if result == "approved":
        for doc in pending:
            _move(doc, "approved", at)
    elif result == "rejected":
        for doc in pending:
            _move(doc, "rejected", at, event.data.get("reason") or "rejected by the KYC review")
    else:
        _request_again(session, event, client)


RESET_REASON = "KYC was reset by the provider: every document is needed again"


@projection("kyc.reset")
def reset(session: Session, event: Event, client: Client) -> None:
    """A provider reset the applicant: documents stop counting and all are asked for again.

    The history stays (reviews, documents with the reason they stopped counting). The
    client's KYC status becomes `retry`, as after a retry that asks for everything, so
    the rules send the request and the reminders of a retry.
    """
    if not _record_review(session, event, client, "reset", status="retry"):
        return
    at, data = event.occurred_at, event.data
    reason = data.get("reason") or RESET_REASON
    for doc in _documents_in(session, client, USABLE_STATES, at):
        _move(doc, "rejected", at, reason)
    policy = policy_mod.for_session(session)
    _ask_for(session, client, policy.documents_for(client.client_type, client.country), reason, data["provider"], at)


def _ask_for(session: Session, client: Client, docs, reason: str, by: str, at) -> None:
    open_types = set(
        session.scalars(
            select(DocumentRequest.document_type).where(
                DocumentRequest.client_ref == client.ref, DocumentRequest.fulfilled_at.is_(None)
            )
        )
    )
    for doc_type in docs:
        if doc_type not in open_types:
            session.add(
                DocumentRequest(
                    client_ref=client.ref, document_type=doc_type, reason=reason, requested_by=by, requested_at=at
                )
            )


def retry_documents(policy, client: Client, labels) -> tuple[list[str], list[str]]:
    """Return the document types a retry asks for again and the explanation of its labels."""
    docs, texts = policy.explain_labels(labels)
    docs += [label for label in labels or () if label in DOCUMENT_TYPES and label not in docs]
    if not docs:  # no label we understand: ask for everything the policy requires again
        docs = policy.documents_for(client.client_type, client.country)
    return docs, texts


def _request_again(session: Session, event: Event, client: Client) -> None:
    at, data = event.occurred_at, event.data
    docs, texts = retry_documents(policy_mod.for_session(session), client, data.get("labels"))
    reason = " ".join(texts) or data.get("comment") or data.get("reason") or "asked for again"
    for doc in _documents_in(session, client, USABLE_STATES, at):
        if doc.document_type in docs:
            _move(doc, "rejected", at, reason)
    _ask_for(session, client, docs, reason, data["provider"], at)
