"""The set-based form of the KYC projections (engine.processing.batch).

For a group of clients: one query each for their documents, document requests and
applied reviews; each event is applied in memory by the same functions the per-event
projections call (engine.kyc.decide) on `GroupRows`; the new rows are inserted in bulk
(engine.bulk, in the order the per-event path adds them), and the changed documents,
requests and clients rows are written by the session's flush.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bulk import insert_rows
from engine.clients.models import Client
from engine.events.catalogue import DOCUMENT_TYPES
from engine.events.models import Event
from engine.kyc import decide
from engine.kyc import policy as policy_mod
from engine.kyc.models import DocumentRequest, KycDocument, KycReview
from engine.values import parse_datetime

DOCUMENT_EVENTS = ("kyc.document_submitted", "kyc.document_approved", "kyc.document_rejected")
REVIEW_EVENTS = ("kyc.review_pending", "kyc.on_hold", "kyc.review_completed", "kyc.reset")
TYPES = frozenset({*DOCUMENT_EVENTS, *REVIEW_EVENTS})
# Longest texts the columns take (PostgreSQL refuses longer ones: the per-event path isolates them).
_ID, _TYPE, _PROVIDER, _RESULT = 200, 32, 64, 16


@dataclass
class KycState:
    policy: Callable[[], Any]  # the onboarding policy in force (read once per group)
    documents: dict[str, list[KycDocument]]  # by client, oldest first
    requests: dict[str, list[DocumentRequest]]  # by client, oldest first
    reviews: dict[str, list[KycReview]]  # applied ones (and every new one) by client, in id order
    new: list[KycDocument | KycReview | DocumentRequest] = field(default_factory=list)  # to insert, in order


class GroupRows:
    """One client's KYC rows in the group state (decide.Rows)."""

    def __init__(self, state: KycState, client: Client) -> None:
        self.state, self.client = state, client

    def documents(self) -> list[KycDocument]:
        return self.state.documents[self.client.ref]

    def requests(self) -> list[DocumentRequest]:
        return self.state.requests[self.client.ref]

    def reviews_since(self, at: datetime) -> list[KycReview]:
        return decide.applied_since(self.state.reviews[self.client.ref], at)

    def policy(self) -> Any:
        return self.state.policy()

    def add(self, row: KycDocument | KycReview | DocumentRequest) -> None:
        ref = self.client.ref
        if isinstance(row, KycDocument):
            self.state.documents[ref].append(row)
        elif isinstance(row, DocumentRequest):
            self.state.requests[ref].append(row)
        else:
            self.state.reviews[ref].append(row)
        self.state.new.append(row)


def load(session: Session, clients: dict[str, Client], events: list[Event]) -> KycState:
    refs = sorted({e.client_ref for e in events if e.type in TYPES})
    documents: dict[str, list[KycDocument]] = {ref: [] for ref in refs}
    requests: dict[str, list[DocumentRequest]] = {ref: [] for ref in refs}
    reviews: dict[str, list[KycReview]] = {ref: [] for ref in refs}
    if refs:
        for doc in session.scalars(
            select(KycDocument).where(KycDocument.client_ref.in_(refs)).order_by(KycDocument.id)
        ):
            documents[doc.client_ref].append(doc)
        for request in session.scalars(
            select(DocumentRequest).where(DocumentRequest.client_ref.in_(refs)).order_by(DocumentRequest.id)
        ):
            requests[request.client_ref].append(request)
        for review in session.scalars(
            select(KycReview).where(KycReview.client_ref.in_(refs), KycReview.applied).order_by(KycReview.id)
        ):
            reviews[review.client_ref].append(review)
    policy = policy_mod.for_session(session) if refs else None  # read here: apply reads nothing
    return KycState(lambda: policy, documents, requests, reviews)


def accepts(state: KycState, event: Event, client: Client) -> bool:
    """Take an event the per-event projection would apply without raising; one with a
    missing or malformed field goes to the per-event path, which isolates it."""
    if event.type not in TYPES or client.ref not in state.documents:
        return False
    data = event.data
    if not isinstance(data, dict):
        return False
    if event.type in DOCUMENT_EVENTS:
        return _document_event_ok(event.type, data)
    return _review_event_ok(event.type, data)


def _text(value: Any, longest: int | None = None, *, optional: bool = False) -> bool:
    if value is None:
        return optional
    return isinstance(value, str) and (longest is None or len(value) <= longest)


def _document_event_ok(kind: str, data: dict[str, Any]) -> bool:
    if not (_text(data.get("document_id"), _ID) and data.get("document_type") in DOCUMENT_TYPES):
        return False
    if kind == "kyc.document_submitted" and data.get("expires_at"):
        try:
            parse_datetime(data["expires_at"])
        except Exception:
            return False
    return _text(data.get("reason"), optional=kind != "kyc.document_rejected")


def _review_event_ok(kind: str, data: dict[str, Any]) -> bool:
    if not (_text(data.get("provider"), _PROVIDER) and _text(data.get("reason"), optional=True)):
        return False
    if kind != "kyc.review_completed":
        return _text(data.get("comment"), optional=True) and _labels_ok(data.get("labels"))
    return (
        _text(data.get("result"), _RESULT)
        and _text(data.get("comment"), optional=True)
        and _labels_ok(data.get("labels"))
    )


def _labels_ok(labels: Any) -> bool:
    return labels is None or (isinstance(labels, list) and all(isinstance(label, str) for label in labels))


def apply(state: KycState, event: Event, client: Client) -> None:
    decide.BY_TYPE[event.type](GroupRows(state, client), event)


def write(session: Session, state: KycState) -> None:
    """Insert the new rows in bulk, table by table in the order they were added (COPY on
    PostgreSQL); changed loaded rows and clients go with the flush."""
    for model in (KycDocument, KycReview, DocumentRequest):
        rows = [_row(r) for r in state.new if type(r) is model]
        if rows:
            insert_rows(session, model, rows)


def _row(obj: KycDocument | KycReview | DocumentRequest) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in type(obj).__table__.columns if c.key != "id"}
