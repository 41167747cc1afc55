"""What a KYC event does to a client's KYC rows: pure functions both processing paths call.

The per-event projections (engine.kyc.projections) read the rows with queries and the
set-based form (engine.kyc.batch) from its group state; both then decide here, on plain
rows in memory, so there is one implementation of each decision. Nothing here reads or
writes the database: a new row is returned for the caller to add or insert in bulk.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

from engine.clients.models import Client
from engine.events.catalogue import DOCUMENT_TYPES
from engine.kyc.models import USABLE_STATES, DocumentRequest, KycDocument, KycReview
from engine.values import parse_datetime, utcnow

if TYPE_CHECKING:
    from engine.events.models import Event
    from engine.kyc.policy import Policy

RESET_REASON = "KYC was reset by the provider: every document is needed again"
REVIEW_REJECTED = "rejected by the KYC review"


def new_document(client_ref: str, document_id: str, document_type: str, at: datetime) -> KycDocument:
    """Return the row of a document first seen at `at` (submitted)."""
    return KycDocument(
        client_ref=client_ref,
        document_id=document_id,
        document_type=document_type,
        state="submitted",
        state_at=at,
        updated_at=utcnow(),
    )


def find_document(docs: Iterable[KycDocument], document_id: str) -> KycDocument | None:
    return next((d for d in docs if d.document_id == document_id), None)


def move(doc: KycDocument, state: str, at: datetime, reason: str | None = None) -> None:
    doc.state, doc.reason, doc.state_at, doc.updated_at = state, reason, at, utcnow()


def submitted(doc: KycDocument, created: bool, data: dict[str, Any], at: datetime) -> None:
    """A `kyc.document_submitted` on its document (unless a newer event already moved it)."""
    if created or doc.state_at <= at:
        move(doc, "submitted", at)
        doc.submitted_at = at
        doc.expires_at = parse_datetime(data["expires_at"]) if data.get("expires_at") else None


def decided(doc: KycDocument, created: bool, state: str, at: datetime, reason: str | None) -> None:
    """A reviewer's approval or rejection of one document (unless a newer event moved it)."""
    if created or doc.state_at <= at:
        move(doc, state, at, reason)


def fulfil(requests: Iterable[DocumentRequest], document_type: str, at: datetime) -> None:
    """A document of `document_type` at `at` fulfils the open requests for its type made by then."""
    for request in requests:
        if request.fulfilled_at is None and request.document_type == document_type and request.requested_at <= at:
            request.fulfilled_at = at


def reviews_since(
    doc: KycDocument,
    reviews: Iterable[KycReview],
    retry_types: Callable[[list[str] | None], tuple[list[str], list[str]]],
) -> None:
    """Give a late document what the reviews applied after it was submitted did to it, in order.

    `reviews`: the client's applied reviews at or after the document's `state_at`, in
    order of (occurred_at, id). In order, a review approves or rejects the documents
    submitted before it, and a retry rejects those of the types it asks for again; a
    document delivered after such a review must not stay usable just because it arrived
    late. `retry_types(labels)` gives the types and texts a retry asks for
    (`retry_documents`).
    """
    for review in reviews:
        at = review.occurred_at
        if review.result == "pending" and doc.state == "submitted":
            move(doc, "in_review", at)
        elif review.result == "approved" and doc.state in ("submitted", "in_review"):
            move(doc, "approved", at)
        elif review.result == "rejected" and doc.state in ("submitted", "in_review"):
            move(doc, "rejected", at, review.reason or REVIEW_REJECTED)
        elif review.result == "reset" and doc.state in USABLE_STATES:
            move(doc, "rejected", at, review.reason or RESET_REASON)
        elif review.result == "retry" and doc.state in USABLE_STATES:
            docs, texts = retry_types(review.labels)
            if doc.document_type in docs:
                move(doc, "rejected", at, " ".join(texts) or review.comment or review.reason or "asked for again")


def applied_since(reviews: Iterable[KycReview], since: datetime) -> list[KycReview]:
    """The applied reviews at or after `since`, by (occurred_at, id); `reviews` in id order."""
    return sorted((r for r in reviews if r.applied and r.occurred_at >= since), key=lambda r: r.occurred_at)


def review(client: Client, event: Event, result: str, status: str | None = None) -> tuple[KycReview, bool]:
    """Return the provider result's row and whether it applies (it is the newest); when it
    does, the client's KYC status becomes `status` (default: the result itself)."""
    data = event.data
    newest = client.kyc_status_at is None or event.occurred_at >= client.kyc_status_at
    row = KycReview(
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
    if newest:
        client.kyc_status, client.kyc_status_at = status or result, event.occurred_at
    return row, newest


def in_states(docs: Iterable[KycDocument], states: tuple[str, ...], at: datetime) -> list[KycDocument]:
    """The documents in one of `states` last moved at or before `at`."""
    return [d for d in docs if d.state in states and d.state_at <= at]


def pending_moved(result: str, pending: Iterable[KycDocument], at: datetime, reason: str | None) -> None:
    """An approved or rejected review applied to the documents under review."""
    for doc in pending:
        if result == "approved":
            move(doc, "approved", at)
        else:
            move(doc, "rejected", at, reason or REVIEW_REJECTED)


def retry_documents(policy: Policy, client: Client, labels: list[str] | None) -> tuple[list[str], list[str]]:
    """Return the document types a retry asks for again and the explanation of its labels."""
    docs, texts = policy.explain_labels(labels)
    docs += [label for label in labels or () if label in DOCUMENT_TYPES and label not in docs]
    if not docs:  # no label we understand: ask for everything the policy requires again
        docs = policy.documents_for(client.client_type, client.country)
    return docs, texts


def retry_reason(texts: list[str], data: dict[str, Any]) -> str:
    return " ".join(texts) or data.get("comment") or data.get("reason") or "asked for again"


def asked_again(usable: Iterable[KycDocument], docs: list[str], at: datetime, reason: str) -> None:
    """A retry rejects the usable documents of the types it asks for again."""
    for doc in usable:
        if doc.document_type in docs:
            move(doc, "rejected", at, reason)


def requests_for(
    client_ref: str, open_types: set[str], docs: Iterable[str], reason: str, by: str, at: datetime
) -> list[DocumentRequest]:
    """The new requests for the types in `docs` with no open request (`open_types`)."""
    return [
        DocumentRequest(client_ref=client_ref, document_type=t, reason=reason, requested_by=by, requested_at=at)
        for t in docs
        if t not in open_types
    ]


# ---- each event type's effect on a client's KYC rows, as both paths apply it ----------


class Rows(Protocol):
    """One client's KYC rows as a processing path sees them (read lazily, added to)."""

    client: Client

    def documents(self) -> list[KycDocument]: ...  # oldest first, new ones included

    def requests(self) -> list[DocumentRequest]: ...  # every request, oldest first

    def reviews_since(self, at: datetime) -> list[KycReview]: ...  # applied, by (occurred_at, id)

    def policy(self) -> Policy: ...  # the onboarding policy in force

    def add(self, row: KycDocument | KycReview | DocumentRequest) -> None: ...


def _document(rows: Rows, data: dict[str, Any], at: datetime) -> tuple[KycDocument, bool]:
    doc = find_document(rows.documents(), data["document_id"])
    if doc is not None:
        return doc, False
    doc = new_document(rows.client.ref, data["document_id"], data["document_type"], at)
    rows.add(doc)
    return doc, True


def document_submitted(rows: Rows, event: Event) -> None:
    """Record a submitted document and fulfil any open request for its type; a document
    delivered late gets what the reviews applied since it was submitted did to it."""
    data, at = event.data, event.occurred_at
    doc, created = _document(rows, data, at)
    submitted(doc, created, data, at)
    fulfil(rows.requests(), data["document_type"], at)
    if created:
        reviews_since(
            doc, rows.reviews_since(doc.state_at), lambda labels: retry_documents(rows.policy(), rows.client, labels)
        )


def document_decided(rows: Rows, event: Event, state: str, reason: str | None) -> None:
    """One document approved or rejected by a reviewer."""
    doc, created = _document(rows, event.data, event.occurred_at)
    decided(doc, created, state, event.occurred_at, reason)


def document_approved(rows: Rows, event: Event) -> None:
    """Mark one document approved (unless a newer event already moved it)."""
    document_decided(rows, event, "approved", event.data.get("reason"))


def document_rejected(rows: Rows, event: Event) -> None:
    """Mark a document rejected with its reason (unless a newer event already moved it)."""
    document_decided(rows, event, "rejected", event.data["reason"])


def on_hold(rows: Rows, event: Event) -> None:
    """A provider put the review on hold (the rules open a compliance task)."""
    recorded(rows, event, "on_hold")


def recorded(rows: Rows, event: Event, result: str, status: str | None = None) -> bool:
    """Store the provider result; apply it to the client only if it is the newest. Return applied."""
    row, newest = review(rows.client, event, result, status)
    rows.add(row)
    return newest


def review_pending(rows: Rows, event: Event) -> None:
    """A provider started reviewing: submitted documents are now in review."""
    if recorded(rows, event, "pending"):
        for doc in in_states(rows.documents(), ("submitted",), event.occurred_at):
            move(doc, "in_review", event.occurred_at)


def review_completed(rows: Rows, event: Event) -> None:
    """Apply a provider's final or retry result to the documents under review."""
    result, at = event.data["result"], event.occurred_at
    if not recorded(rows, event, result):
        return
    if result in ("approved", "rejected"):
        pending_moved(result, in_states(rows.documents(), ("submitted", "in_review"), at), at, event.data.get("reason"))
        return
    data = event.data
    docs, texts = retry_documents(rows.policy(), rows.client, data.get("labels"))
    reason = retry_reason(texts, data)
    asked_again(in_states(rows.documents(), USABLE_STATES, at), docs, at, reason)
    ask_for(rows, docs, reason, data["provider"], at)


def reset(rows: Rows, event: Event) -> None:
    """A provider reset the applicant: documents stop counting and all are asked for again.

    The history stays (reviews, documents with the reason they stopped counting). The
    client's KYC status becomes `retry`, as after a retry that asks for everything, so
    the rules send the request and the reminders of a retry.
    """
    if not recorded(rows, event, "reset", status="retry"):
        return
    at, data, client = event.occurred_at, event.data, rows.client
    reason = data.get("reason") or RESET_REASON
    for doc in in_states(rows.documents(), USABLE_STATES, at):
        move(doc, "rejected", at, reason)
    ask_for(rows, rows.policy().documents_for(client.client_type, client.country), reason, data["provider"], at)


def ask_for(rows: Rows, docs: Iterable[str], reason: str, by: str, at: datetime) -> None:
    open_types = {r.document_type for r in rows.requests() if r.fulfilled_at is None}
    for request in requests_for(rows.client.ref, open_types, docs, reason, by, at):
        rows.add(request)


# What each event type does, for the per-event projections (engine.kyc.projections)
# and the set-based form alike.
BY_TYPE: dict[str, Callable[[Rows, Event], object]] = {
    "kyc.document_submitted": document_submitted,
    "kyc.document_approved": document_approved,
    "kyc.document_rejected": document_rejected,
    "kyc.review_pending": review_pending,
    "kyc.on_hold": on_hold,
    "kyc.review_completed": review_completed,
    "kyc.reset": reset,
}
